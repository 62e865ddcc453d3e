"""Connection secrets (password, private key, token) appear in no log, XCom, rendered field, trigger row or error.

The operators run on a ``snowflake`` connection holding all three secrets, through the real hook and
``SnowflakeBackend`` over the unit tests' doubles (the provider's SnowflakeHook reads the connection
and loads the encrypted private key for real). This held before issue 10; the test keeps it so.
"""

from __future__ import annotations

import base64
import json
import logging
from typing import Any
from unittest import mock

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred
from operator_support import make_context, pushed
from snowflake_doubles import CONN_ID, route_job_statements

from airflow_snowflake_batch.exceptions import SnowflakeBatchInferenceError
from airflow_snowflake_batch.operators.batch_job import SnowflakeBatchInferenceOperator
from airflow_snowflake_batch.operators.load_results import SnowflakeLoadBatchResultsOperator
from airflow_snowflake_batch.operators.warehouse import SnowflakeWarehouseInferenceOperator
from airflow_snowflake_batch.sensors.batch_job import SnowflakeBatchInferenceJobSensor

PASSWORD = "pw-Sup3r-SECRET-2718"
TOKEN = "tok-SECRET-3141592653"


def _private_key_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASSWORD.encode()),  # the password is the key's passphrase
    ).decode()


PRIVATE_KEY = _private_key_pem()


def _secrets() -> list[str]:
    body = "".join(PRIVATE_KEY.strip().splitlines()[1:-1])
    return [PASSWORD, TOKEN, body, body[:40], base64.b64encode(PRIVATE_KEY.encode()).decode()[:40]]


@pytest.fixture
def secret_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}",
        json.dumps(
            {
                "conn_type": "snowflake",
                "login": "scorer",
                "password": PASSWORD,
                "schema": "SC",
                "extra": {
                    "account": "acme-test",
                    "database": "DB",
                    "warehouse": "WH",
                    "role": "ML",
                    "private_key_content": PRIVATE_KEY,
                    "token": TOKEN,
                },
            }
        ),
    )


def _row(**values: Any) -> Any:
    from snowflake.snowpark import Row

    return Row(**values)


@pytest.fixture
def account(
    secret_connection: None,
    snowpark_session_factory: Any,
    model_registry: Any,
    session: Any,
    new_dataframe: Any,
    sql_log: Any,
    sf_classes: Any,
) -> Any:
    """A model, an input table, an SSE stage, and run_batch starting a job that stays RUNNING."""
    from snowflake.snowpark import types as t
    from snowflake.snowpark.types import StructField, StructType

    shared = new_dataframe()
    sql_log.dataframe_factory = lambda: shared
    session.table.return_value = new_dataframe(
        StructType([StructField("SEPAL_LENGTH", t.DoubleType()), StructField("SPECIES_CODE", t.LongType())])
    )
    # The scores carry the inputs plus the output (the hook creates the output table from them).
    model_registry.versions["V1"].run.return_value = new_dataframe(
        StructType(
            [
                StructField("SEPAL_LENGTH", t.DoubleType()),
                StructField("SPECIES_CODE", t.LongType()),
                StructField("OUTPUT_FEATURE_0", t.DoubleType()),
            ]
        )
    )
    sql_log.answer("^SHOW STAGES", [_row(name="OUT", type="INTERNAL NO CSE")])
    sql_log.answer(r"^SELECT COUNT\(\*\)", [_row(**{"COUNT(*)": 3})])
    jobs: dict[str, Any] = {}

    def lookup(job_id: str) -> Any:
        from snowflake.snowpark.exceptions import SnowparkSQLException

        if job_id not in jobs:
            raise SnowparkSQLException(f"Service {job_id} does not exist", sql_error_code=2003)
        return jobs[job_id]

    def run_batch(*_: Any, job_name: str, **__: Any) -> Any:
        job = mock.create_autospec(sf_classes.MLJob, instance=True, spec_set=True)
        job.id, job.status = job_name, "RUNNING"
        job.get_logs.return_value = "scoring"
        jobs[job_name] = job
        return job

    model_registry.versions["V1"].run_batch.side_effect = run_batch
    with route_job_statements(sql_log, lookup):
        yield model_registry


def test_connection_secrets_appear_nowhere(account: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    common = {"snowflake_conn_id": CONN_ID}

    # Warehouse inference: its XComs and rendered fields.
    warehouse = SnowflakeWarehouseInferenceOperator(
        task_id="score", model_name="iris", input_table="features", output_table="preds", **common
    )
    context = make_context()
    warehouse.render_template_fields(context)
    seen += [repr(warehouse.execute(context)), repr(pushed(context))]
    seen += [repr(getattr(warehouse, f)) for f in warehouse.template_fields]

    # A deferred batch job: the trigger row the triggerer stores, and the defer kwargs.
    batch = SnowflakeBatchInferenceOperator(
        task_id="score",
        model_name="iris",
        input_table="features",
        compute_pool="pool",
        output_stage_location="@out/preds",
        deferrable=True,
        **common,
    )
    context = make_context()
    batch.render_template_fields(context)
    with pytest.raises(TaskDeferred) as deferred:
        batch.execute(context)
    seen += [repr(deferred.value.trigger.serialize()), repr(deferred.value.kwargs), repr(pushed(context))]
    seen += [repr(getattr(batch, f)) for f in batch.template_fields]

    # The sensor's poke, and errors: a missing model, a bad name, results that are not there.
    sensor = SnowflakeBatchInferenceJobSensor(task_id="wait", job_id="DB.SC.NOPE", deferrable=False, **common)
    failing = [
        lambda: sensor.poke(make_context()),
        lambda: SnowflakeWarehouseInferenceOperator(
            task_id="s", model_name="roses", input_table="t", output_table="p", **common
        ).execute(make_context()),
        lambda: SnowflakeWarehouseInferenceOperator(
            task_id="s", model_name="iris", input_table="t; DROP", output_table="p", **common
        ).execute(make_context()),
        lambda: SnowflakeLoadBatchResultsOperator(
            task_id="load", output_location="None", target_table="t", **common
        ).execute(make_context()),
    ]
    for call in failing:
        with pytest.raises(Exception) as raised:  # noqa: PT011 - any error: its text is what matters
            call()
        assert isinstance(raised.value, (SnowflakeBatchInferenceError, ValueError)) or "NOPE" in str(
            raised.value
        )
        seen.append(f"{raised.value!r} {raised.value} {raised.getrepr()}")

    seen += [r.getMessage() for r in caplog.records] + [caplog.text]
    everything = "\n".join(seen)
    assert "DB.SC.PREDS" in everything and "job_id" in everything  # the collection saw real output
    for secret in _secrets():
        assert secret not in everything
