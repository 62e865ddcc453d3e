"""The hook against a real Snowflake account: resolve a model, validate an input table, score in the warehouse.

Runs only when the account is configured (otherwise every test is skipped with the reason)::

    SNOWFLAKE_ACCOUNT, SNOWFLAKE_USER, SNOWFLAKE_PASSWORD      connection (password authentication)
    SNOWFLAKE_DATABASE, SNOWFLAKE_SCHEMA, SNOWFLAKE_WAREHOUSE   where names resolve and queries run
    SNOWFLAKE_ROLE                                              optional
    SNOWFLAKE_BATCH_MODEL                                       a registry model runnable in the warehouse
    SNOWFLAKE_BATCH_MODEL_VERSION                               optional version or alias (default version)
    SNOWFLAKE_BATCH_INPUT_TABLE                                 a table with the model's input columns
    SNOWFLAKE_BATCH_OUTPUT_TABLE                                optional; default AIRFLOW_BATCH_SYSTEM_TEST

    pytest -m system tests/system
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

REQUIRED = (
    "SNOWFLAKE_ACCOUNT",
    "SNOWFLAKE_USER",
    "SNOWFLAKE_PASSWORD",
    "SNOWFLAKE_DATABASE",
    "SNOWFLAKE_SCHEMA",
    "SNOWFLAKE_WAREHOUSE",
    "SNOWFLAKE_BATCH_MODEL",
    "SNOWFLAKE_BATCH_INPUT_TABLE",
)
_missing = [name for name in REQUIRED if not os.environ.get(name)]

pytestmark = [
    pytest.mark.system,
    pytest.mark.skipif(bool(_missing), reason=f"no Snowflake account configured: set {', '.join(_missing)}"),
]

CONN_ID = "snowflake_batch_system"


@pytest.fixture(scope="module")
def hook() -> Iterator[Any]:
    from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook

    conn = {
        "conn_type": "snowflake",
        "login": os.environ["SNOWFLAKE_USER"],
        "password": os.environ["SNOWFLAKE_PASSWORD"],
        "schema": os.environ["SNOWFLAKE_SCHEMA"],
        "extra": {
            "account": os.environ["SNOWFLAKE_ACCOUNT"],
            "database": os.environ["SNOWFLAKE_DATABASE"],
            "warehouse": os.environ["SNOWFLAKE_WAREHOUSE"],
            **({"role": os.environ["SNOWFLAKE_ROLE"]} if os.environ.get("SNOWFLAKE_ROLE") else {}),
        },
    }
    with pytest.MonkeyPatch.context() as env:
        env.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))
        with SnowflakeBatchInferenceHook(
            CONN_ID, query_tag={"dag_id": "system_test", "task_id": "hook"}
        ) as h:
            yield h


def test_resolve_validate_and_score_in_the_warehouse(hook: Any) -> None:
    model = hook.get_model_version(
        os.environ["SNOWFLAKE_BATCH_MODEL"], os.environ.get("SNOWFLAKE_BATCH_MODEL_VERSION") or None
    )
    assert model.functions, f"{model.display} has no functions"
    function = hook.resolve_function(model, model.functions[0].name)
    source = hook.input_source(input_table=os.environ["SNOWFLAKE_BATCH_INPUT_TABLE"])
    hook.validate_input(source, function)

    output = os.environ.get("SNOWFLAKE_BATCH_OUTPUT_TABLE") or "AIRFLOW_BATCH_SYSTEM_TEST"
    table, rows, _ = hook.run_warehouse_inference(
        model_name=model.model.sql,
        version_name=model.version.sql,
        function_name=function.name,
        source=source,
        output_table=output,
        output_mode="overwrite",
    )
    session = hook.backend.session
    assert rows == session.table(table.sql).count()
    assert rows == session.table(source.table.sql).count()
    output_columns = {f.name.strip('"').upper() for f in session.table(table.sql).schema.fields}
    assert {o.name.upper() for o in function.outputs} <= output_columns
