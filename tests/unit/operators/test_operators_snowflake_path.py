"""The operators and the sensor on a ``snowflake`` connection, through the real hook and SnowflakeBackend.

Only the Snowflake libraries are doubled (autospecs of the real Snowpark and snowflake-ml classes, see
``tests/unit/conftest.py``): each test runs an operator's ``execute`` (or ``execute_complete``, ``poke``,
``on_kill``) and asserts the exact snowflake-ml calls and every SQL statement sent, parsed by sqlglot.
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timezone
from typing import Any
from unittest import mock

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred
from operator_support import FakeTaskStateStore, make_context, pushed, stored
from snowflake_doubles import CONN_ID, predict_function, route_job_statements, session_tag
from sqlglot import exp

from airflow_snowflake_batch.backends.snowflake_sql import job_history
from airflow_snowflake_batch.exceptions import BatchJobError, InputValidationError, ResultsNotReadyError
from airflow_snowflake_batch.identifiers import ObjectName, default_job_name
from airflow_snowflake_batch.links import JOB_XCOM_KEY
from airflow_snowflake_batch.operators.batch_job import SnowflakeBatchInferenceOperator
from airflow_snowflake_batch.operators.load_results import SnowflakeLoadBatchResultsOperator
from airflow_snowflake_batch.operators.warehouse import SnowflakeWarehouseInferenceOperator
from airflow_snowflake_batch.sensors.batch_job import SnowflakeBatchInferenceJobSensor
from airflow_snowflake_batch.triggers.batch_job import SnowflakeBatchInferenceJobTrigger

# The task instance of operator_support.make_context(), and what it is tagged and named after.
QUERY_TAG = {"dag_id": "scoring", "task_id": "score", "run_id": "manual__2026-01-01"}
NAME = default_job_name("scoring", "score", "manual__2026-01-01", -1).value
JOB_ID = f"DB.SC.{NAME}"
FOLDER = f"@DB.SC.OUT/preds/{NAME}/"
STAGING = r"DB\.SC\.AIRFLOW_SNOWFLAKE_BATCH_TMP_[0-9A-F]{12}"

# One status read of a job: DESCRIBE SERVICE, whose error 2003 means "no such job" (issue 9).
DESCRIBE = f"DESCRIBE SERVICE {JOB_ID}"
# A first try's submit: its name is looked up once (absent: 2003, with no job-history fallback); the
# stage is checked (the job folder found empty); the input is fingerprinted (one HASH_AGG scan) and the
# job folder's record written (docs/rescoring.rst); the job is submitted, and its first status read.
RECORD = [
    "DELETE FROM DB.SC.AIRFLOW_SCORING_RUNS",
    "CREATE TABLE IF NOT EXISTS DB.SC.AIRFLOW_SCORING_RUNS",
    "INSERT INTO DB.SC.AIRFLOW_SCORING_RUNS",
]
SUBMIT = [
    DESCRIBE,
    "SHOW STAGES LIKE 'OUT' IN SCHEMA DB.SC",
    f"LIST {FOLDER}",
    "SELECT HASH_AGG(*), COUNT(*) FROM DB.SC.FEATURES AS INPUT_ROWS",
    *RECORD,
    DESCRIBE,
]


# The cost's read of a finished job (no history row here, so no SHOW COMPUTE POOLS follows).
HISTORY = job_history(ObjectName.parse(JOB_ID))[0]


def _texts(sql_log: Any) -> list[str]:
    """The statements sent, the record's cut to their start (their column lists are pinned elsewhere)."""
    return [next((r for r in RECORD if t.startswith(r)), t) for t in sql_log.texts]


def _row(**values: Any) -> Any:
    from snowflake.snowpark import Row

    return Row(**values)


def _schema(**types: Any) -> Any:
    from snowflake.snowpark.types import StructField, StructType

    return StructType([StructField(name, dtype) for name, dtype in types.items()])


def _features(**extra: Any) -> Any:
    """The input table's columns: the model's two features (stored upper-case), plus ``extra``."""
    from snowflake.snowpark import types as t

    return _schema(SEPAL_LENGTH=t.DoubleType(), SPECIES_CODE=t.LongType(), **extra)


@pytest.fixture(autouse=True)
def snowflake_connection(conn_env: dict[str, Any], snowpark_session_factory: Any) -> Any:
    """The ``snowflake`` connection every task here uses; each hook's Snowpark session is the double."""
    return snowpark_session_factory


@pytest.fixture
def model(model_registry: Any) -> Any:
    """Version V1 of DB.SC.IRIS (alias PROD): one ``predict`` function with a ``temperature`` param."""
    from snowflake.ml.model import model_signature as ms

    mv = model_registry.versions["V1"]
    mv.show_functions.return_value = [
        predict_function(params=[ms.ParamSpec("temperature", ms.DataType.DOUBLE, 1.0)])
    ]
    return mv


# -- warehouse inference ------------------------------------------------------------------------


def _warehouse_op(**kwargs: Any) -> SnowflakeWarehouseInferenceOperator:
    args: dict[str, Any] = {
        "task_id": "score",
        "model_name": "iris",
        "version_name": "PROD",
        "function_name": "predict",
        "input_table": "features",
        "output_table": "preds",
        "output_mode": "append",
        "output_partition": {"SCORE_DATE": "{{ ds }}"},
        "model_params": {"temperature": 0.2},
        "partition_column": "region",
        "strict_input_validation": True,
        "snowflake_conn_id": CONN_ID,
    }
    return SnowflakeWarehouseInferenceOperator(**{**args, **kwargs})


def _rendered(op: Any) -> dict[str, Any]:
    context = {**make_context(), "ds": "2026-01-01"}
    op.render_template_fields(context)
    return context


RUNS = "DB.SC.AIRFLOW_SCORING_RUNS"


def test_warehouse_operator_scores_then_replaces_the_partition(
    model, model_registry, session, new_dataframe, sql_log
):
    from snowflake.snowpark import types as t
    from snowflake.snowpark.functions import lit

    features = new_dataframe(_features(REGION=t.StringType()))
    # The scores' columns (those of the temporary table they are saved to) come from the scored DataFrame.
    scored = new_dataframe(
        _features(REGION=t.StringType(), OUTPUT_FEATURE_0=t.DoubleType(), SCORE_DATE=t.StringType())
    )
    session.table.side_effect = lambda name, *_, **__: features if name == "DB.SC.FEATURES" else None
    model.run.return_value = scored
    sql_log.answer(r"^SELECT COUNT\(\*\)", [_row(**{"COUNT(*)": 150})])
    op = _warehouse_op()

    result = op.execute(_rendered(op))

    cost = result.pop("cost")
    assert result == {
        "output_table": "DB.SC.PREDS",
        "rows_written": 150,
        "model_version": "V1",
        "reused": False,
    }
    assert cost["wall_seconds"] >= 0 and cost["reused"] is False
    session.update_query_tag.assert_called_once_with(session_tag(QUERY_TAG))
    model_registry.cls.assert_called_with(session, database_name="DB", schema_name="SC")
    model_registry.cls.return_value.get_model.assert_called_with("IRIS")
    model_registry.model.version.assert_called_with("PROD")  # the alias, resolved to V1 by the registry
    model.run.assert_called_once_with(
        features,
        function_name="PREDICT",
        partition_column="REGION",
        strict_input_validation=True,
        params={"temperature": 0.2},
    )
    ((column, value),) = [c.args for c in scored.with_column.call_args_list]
    assert (column, str(value)) == ("SCORE_DATE", str(lit("2026-01-01")))
    ((staging,), save_kwargs) = scored.write.save_as_table.call_args
    assert re.fullmatch(STAGING, staging)
    assert save_kwargs == {"mode": "errorifexists", "table_type": "temporary"}
    # The statement sequence is pinned once, in tests/unit/hooks/test_snowflake_backend.py; here what
    # the operator adds: the rendered partition replaces only that day's rows, from the scored table.
    insert = sql_log.one("^INSERT INTO DB.SC.PREDS")
    assert insert.tree.this.this.sql(dialect="snowflake") == "DB.SC.PREDS"
    assert insert.tree.expression.find(exp.Table).sql(dialect="snowflake") == staging
    delete = sql_log.one("^DELETE FROM DB.SC.PREDS")
    where = delete.tree.args["where"].this
    assert isinstance(where, exp.EQ) and isinstance(where.expression, exp.Placeholder)
    assert delete.params == ["2026-01-01"]  # the rendered template, as a bind variable
    assert all(s.params is None for s in sql_log.sent if s is not delete and RUNS not in s.sql)
    # What scored the partition is recorded after the write, keyed by the table and the partition.
    record = sql_log.one(f"^INSERT INTO {RUNS}")
    assert record.params[:2] == ["DB.SC.PREDS", '{"SCORE_DATE":"2026-01-01"}']
    assert sql_log.texts.index(record.sql) > sql_log.texts.index(insert.sql)
    # Scoring stayed server-side: no row reached the worker, and the table API did not overwrite.
    scored.collect.assert_not_called()
    scored.to_pandas.assert_not_called()
    # The temporary table is written once, by save_as_table, and never read back through the table API
    # (neither described nor overwritten).
    assert {c.args[0] for c in session.table.call_args_list} == {"DB.SC.FEATURES"}
    session.close.assert_called_once_with()


def test_warehouse_operator_refuses_a_bad_input_column_before_scoring(model, session, new_dataframe, sql_log):
    from snowflake.snowpark import types as t

    features = new_dataframe(_schema(SEPAL_LENGTH=t.DoubleType(), SPECIES=t.StringType()))
    session.table.return_value = features
    op = _warehouse_op()

    with pytest.raises(InputValidationError, match=r"table DB\.SC\.FEATURES.*missing column 'SPECIES_CODE'"):
        op.execute(_rendered(op))

    session.table.assert_called_once_with("DB.SC.FEATURES")  # described, never scored
    model.run.assert_not_called()
    features.write.save_as_table.assert_not_called()
    assert sql_log.sent == []


# -- batch inference job ------------------------------------------------------------------------


class JobServices:
    """SPCS job services by id, answering the backend's job statements.

    ``DESCRIBE SERVICE`` (2003 for an unknown id) and ``SHOW JOB SERVICES IN SCHEMA`` read the jobs'
    statuses, ``CALL <job>!SPCS_CANCEL_JOB()`` calls ``cancel()``; the ``MLJob`` handle the backend
    builds for logs is the same double. Each job is one autospec'd ``MLJob`` whose ``status`` follows a
    script: every read moves to the next status (the last one sticks), so a test says how the job
    progresses from one poll to the next, and ``served`` records each status the code read.
    """

    def __init__(self, sf_classes: Any) -> None:
        self.sf_classes = sf_classes
        self.jobs: dict[str, Any] = {}
        self.served: dict[str, list[str]] = {}

    def add(self, job_id: str, *statuses: str, logs: str = "") -> Any:
        job = mock.create_autospec(self.sf_classes.MLJob, instance=True, spec_set=True)
        job.id = job_id
        job.get_logs.return_value = logs
        script, served = list(statuses), self.served.setdefault(job_id, [])

        def read() -> str:
            served.append(script.pop(0) if len(script) > 1 else script[0])
            return served[-1]

        # Each mock instance has its own class, so the property is this job's alone.
        type(job).status = mock.PropertyMock(side_effect=read)
        self.jobs[job_id] = job
        return job

    def submitted_by(self, model_version: Any, *statuses: str, logs: str = "") -> None:
        """``run_batch`` starts a job under the name it is given, going through ``statuses``."""

        def run_batch(*_: Any, job_name: str, **__: Any) -> Any:
            return self.add(job_name, *statuses, logs=logs)

        model_version.run_batch.side_effect = run_batch

    def lookup(self, job_id: str, session: Any = None) -> Any:
        from snowflake.snowpark.exceptions import SnowparkSQLException

        if job_id not in self.jobs:
            raise SnowparkSQLException(f"Service {job_id} does not exist", sql_error_code=2003)
        return self.jobs[job_id]

    def listing(self, query: str, _: Any) -> list[Any]:
        """``SHOW JOB SERVICES IN SCHEMA <db>.<schema>``: one row per job of that schema, status read once."""
        schema = query.rsplit(" ", 1)[-1]
        return [
            _row(name=job_id.rsplit(".", 1)[-1], status=job.status)
            for job_id, job in self.jobs.items()
            if job_id.rsplit(".", 1)[0] == schema
        ]

    def last_status(self, job_id: str) -> str | None:
        return (self.served.get(job_id) or [None])[-1]


@pytest.fixture
def services(sf_classes: Any, sql_log: Any) -> Any:
    found = JobServices(sf_classes)
    sql_log.answer(r"^SHOW JOB SERVICES IN SCHEMA ", found.listing)
    with route_job_statements(sql_log, found.lookup):
        yield found


@pytest.fixture
def batch_ready(model, session, new_dataframe, sql_log, services) -> Any:
    """A valid input table, an SSE output stage, and job folders holding _SUCCESS once their job is DONE."""
    session.table.return_value = new_dataframe(_features())
    sql_log.answer(
        r"^SHOW STAGES", [_row(name="OUT_OLD", type="INTERNAL"), _row(name="OUT", type="INTERNAL NO CSE")]
    )

    def job_folder(query: str, _: Any) -> list[Any]:
        name = query.rstrip("/").rsplit("/", 1)[-1]
        if services.last_status(f"DB.SC.{name}") != "DONE":
            return []
        # LIST names files by stage (lower-cased) and path.
        return [_row(name=f"out/preds/{name}/_SUCCESS"), _row(name=f"out/preds/{name}/data_0_0_0.parquet")]

    sql_log.answer(r"^LIST @DB\.SC\.OUT/preds/", job_folder)
    return services


def _batch_op(**kwargs: Any) -> SnowflakeBatchInferenceOperator:
    args: dict[str, Any] = {
        "task_id": "score",
        "model_name": "iris",
        "version_name": "PROD",
        "input_table": "features",
        "compute_pool": "gpu_pool",
        "output_stage_location": "@out/preds",
        "replicas": "2",  # as rendered from a template
        "num_workers": 4,
        "max_batch_rows": 1024,
        "resources": {"cpu": "4", "memory": "8Gi"},
        "model_params": {"temperature": 0.2},
        "deferrable": False,
        "poll_interval": 0.01,
        "snowflake_conn_id": CONN_ID,
    }
    return SnowflakeBatchInferenceOperator(**{**args, **kwargs})


def _outcome(status: str = "DONE") -> dict[str, Any]:
    return {"job_id": JOB_ID, "job_name": NAME, "status": status, "output_location": FOLDER, "reused": False}


def _without_cost(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k != "cost"}


def _published() -> dict[str, str]:
    return {
        "job_id": JOB_ID,
        "job_name": NAME,
        "output_location": FOLDER,
        "url": f"https://acme-test.snowflakecomputing.com/#/compute/job/DB/SC/{NAME}",
    }


def test_batch_operator_submits_waits_and_checks_the_results(batch_ready, model, session, sql_log):
    from snowflake.ml.model import batch_inference as bi

    batch_ready.submitted_by(model, "PENDING", "RUNNING", "DONE", logs="replica 0: scored 150 rows")
    context = make_context()

    # What Snowflake answers once the job ended: its history row (TIMESTAMP_LTZ values) and its pool.
    sql_log.answer(
        r"GET_JOB_HISTORY",
        [
            _row(
                CREATED_TIME=datetime(2026, 1, 1, 10, 0, tzinfo=timezone.utc),
                COMPLETED_TIME=datetime(2026, 1, 1, 10, 12, 30, tzinfo=timezone.utc),
                COMPUTE_POOL_NAME="GPU_POOL",
            )
        ],
    )
    sql_log.answer(
        r"^SHOW COMPUTE POOLS", [_row(name="GPU_POOL", state="ACTIVE", instance_family="GPU_NV_S")]
    )

    result = _batch_op().execute(context)

    cost = result.pop("cost")
    assert _without_cost(result) == _outcome()
    # The job's run time on its pool's instance family; no credit figure is guessed.
    assert cost["wall_seconds"] == 750.0
    assert (cost["compute_pool"], cost["instance_family"]) == ("GPU_POOL", "GPU_NV_S")
    assert cost["estimated_credits"] is None and "Service Consumption Table" in cost["credits_source"]
    model.run_batch.assert_called_once_with(
        session.table.return_value,
        input_stage_location=None,
        compute_pool="GPU_POOL",
        output_spec=bi.OutputSpec(stage_location="@DB.SC.OUT/preds/", mode=bi.SaveMode.ERROR),
        input_spec=bi.InputSpec(params={"temperature": 0.2}),
        resources_spec=bi.ResourcesSpec(cpu_requests="4", memory_requests="8Gi"),
        inference_spec=bi.InferenceSpec(num_workers=4, max_batch_rows=1024),
        image_build_spec=None,
        function_name="PREDICT",
        job_name=JOB_ID,
        replicas=2,
    )
    session.table.assert_called_with("DB.SC.FEATURES")
    # The submit, then one DESCRIBE SERVICE per status read while waiting, and _SUCCESS once DONE.
    # Then the cost: the job's history row and its pool.
    assert _texts(sql_log)[: len(SUBMIT) + 3] == [*SUBMIT, DESCRIBE, DESCRIBE, f"LIST {FOLDER}"]
    assert [t.split(" FROM")[0] for t in _texts(sql_log)[len(SUBMIT) + 3 :]] == [
        "SELECT CREATED_TIME, COMPLETED_TIME, COMPUTE_POOL_NAME",
        "SHOW COMPUTE POOLS LIKE 'GPU_POOL'",
    ]
    assert batch_ready.served[JOB_ID] == ["PENDING", "RUNNING", "DONE"]  # one read per DESCRIBE after submit
    batch_ready.jobs[JOB_ID].get_logs.assert_called_once_with()  # the whole log, not a failure's tail
    assert pushed(context) == {JOB_XCOM_KEY: _published()}
    assert context["task_state_store"].values == stored(JOB_ID)
    session.update_query_tag.assert_called_once_with(session_tag(QUERY_TAG))


@pytest.mark.parametrize("store", [{}, stored(JOB_ID)], ids=["found-by-name", "stored-id"])
def test_batch_operator_retry_reattaches_to_the_running_job_of_try_1(batch_ready, model, sql_log, store):
    batch_ready.add(JOB_ID, "RUNNING", "RUNNING", "DONE")
    context = make_context(try_number=2, store=FakeTaskStateStore(store))

    result = _batch_op().execute(context)

    assert _without_cost(result) == _outcome()
    model.run_batch.assert_not_called()
    # No stage validation for a job that is already running: status reads, then the _SUCCESS check.
    # Without a stored id, this try's own name (_T2) is looked up first and found absent (2003).
    search = [] if store else [f"{DESCRIBE}_T2"]
    assert sql_log.texts == [*search, DESCRIBE, DESCRIBE, DESCRIBE, f"LIST {FOLDER}", HISTORY]
    assert batch_ready.served[JOB_ID] == ["RUNNING", "RUNNING", "DONE"]
    assert pushed(context) == {JOB_XCOM_KEY: _published()}


def test_batch_operator_takes_a_done_job_without_success_marker_as_finished(
    batch_ready, model, sql_log, capsys
):
    batch_ready.submitted_by(model, "PENDING", "DONE")
    sql_log.answer(f"^LIST {re.escape(FOLDER)}", [])  # the job ended DONE but wrote no _SUCCESS

    result = _batch_op().execute(make_context())

    assert result["status"] == "DONE"
    assert (
        f"{JOB_ID} ended DONE but {FOLDER} has no _SUCCESS file: the job's status stands in"
        in capsys.readouterr().out
    )
    model.run_batch.assert_called_once()


def test_batch_operator_deferrable_defers_then_the_trigger_and_execute_complete_finish(
    batch_ready, model, session, sql_log
):
    batch_ready.submitted_by(model, "PENDING", "RUNNING", "DONE", logs="done")
    context = make_context()

    with pytest.raises(TaskDeferred) as deferred:
        _batch_op(deferrable=True).execute(context)

    model.run_batch.assert_called_once()
    assert batch_ready.served[JOB_ID] == ["PENDING"]
    assert context["task_state_store"].values == stored(JOB_ID)
    trigger = deferred.value.trigger
    assert isinstance(trigger, SnowflakeBatchInferenceJobTrigger)
    assert (trigger.job_id, trigger.snowflake_conn_id, trigger.poll_interval) == (JOB_ID, CONN_ID, 0.01)
    assert trigger.hook_params["query_tag"] == QUERY_TAG
    assert (deferred.value.method_name, deferred.value.kwargs) == (
        "execute_complete",
        {"job": _published(), "reattached": False},
    )

    async def first_event() -> Any:
        async for event in trigger.run():
            return event
        raise AssertionError("the trigger fired no event")

    with mock.patch("airflow_snowflake_batch.triggers.batch_job.sleep", new_callable=mock.AsyncMock) as sleep:
        event = asyncio.run(first_event())

    assert event.payload == {"outcome": "success", "job_id": JOB_ID, "job_status": "DONE", "message": ""}
    assert batch_ready.served[JOB_ID] == ["PENDING", "RUNNING", "DONE"]
    # One wait before each check, to the next tick of the 0.01 s interval (the first within 1.5 intervals).
    waits = [c.args[0] for c in sleep.await_args_list]
    assert len(waits) == 2 and all(0 <= w <= 0.015 for w in waits), waits

    # Airflow resumes on a new operator instance, with the event and the defer kwargs.
    result = _batch_op(deferrable=True).execute_complete(
        make_context(), event=event.payload, **deferred.value.kwargs
    )

    assert _without_cost(result) == _outcome()
    # The submit as in the blocking run; the trigger's two checks are each one listing of the job's
    # schema, with no DESCRIBE SERVICE (the job is listed and not failed); execute_complete checks _SUCCESS.
    show = "SHOW JOB SERVICES IN SCHEMA DB.SC"
    assert _texts(sql_log) == [*SUBMIT, show, show, f"LIST {FOLDER}", HISTORY]
    batch_ready.jobs[JOB_ID].get_logs.assert_called_once_with()


def test_batch_operator_on_kill_cancels_the_job(batch_ready, model):
    batch_ready.submitted_by(model, "PENDING")
    op = _batch_op(wait_for_completion=False)

    assert op.execute(make_context()) == _outcome("PENDING")
    batch_ready.jobs[JOB_ID].cancel.assert_not_called()
    op.on_kill()

    batch_ready.jobs[JOB_ID].cancel.assert_called_once_with()


# -- loading results ----------------------------------------------------------------------------

LOAD_FOLDER = "@DB.SC.OUT/preds/AIRFLOW_BATCH_0123/"


def _load_op(**kwargs: Any) -> SnowflakeLoadBatchResultsOperator:
    args: dict[str, Any] = {
        "task_id": "load",
        "output_location": "@out/preds/AIRFLOW_BATCH_0123/",
        "target_table": "scores",
        "output_partition": {"SCORE_DATE": "{{ ds }}"},
        "snowflake_conn_id": CONN_ID,
    }
    return SnowflakeLoadBatchResultsOperator(**{**args, **kwargs})


def _listing(*files: str) -> list[Any]:
    return [_row(name=f"out/preds/AIRFLOW_BATCH_0123/{f}", size=1024) for f in files]


def test_load_operator_lists_the_folder_then_loads_the_rendered_partition(session, sql_log):
    sql_log.answer(r"^LIST", _listing("_SUCCESS", "data_0_0_0.parquet", "data_0_1_0.parquet"))
    sql_log.answer(
        r"^COPY INTO",
        [
            _row(file="data_0_0_0.parquet", status="LOADED", rows_parsed=100, rows_loaded=100),
            _row(file="data_0_1_0.parquet", status="LOADED", rows_parsed=50, rows_loaded=50),
        ],
    )
    op = _load_op()

    result = op.execute(_rendered(op))

    assert result == {"target_table": "DB.SC.SCORES", "rows_loaded": 150}
    # The statement sequence is pinned once, in tests/unit/hooks/test_snowflake_backend.py; here what
    # the operator adds: the folder is checked first, and the rendered day is the replaced partition.
    assert sql_log.texts[0] == f"LIST {LOAD_FOLDER}"
    copy = sql_log.one("^COPY")
    assert f"FROM {LOAD_FOLDER} " in copy.sql
    assert [s.params for s in sql_log.matching("^(UPDATE|DELETE)") if RUNS not in s.sql] == [
        ["2026-01-01"],
        ["2026-01-01"],
    ]
    # A load replaces what a warehouse run recorded for the partition: the record goes first.
    assert sql_log.one(f"^DELETE FROM {RUNS}").params == ["DB.SC.SCORES", '{"SCORE_DATE":"2026-01-01"}', "{}"]
    assert sql_log.one("^DELETE FROM DB.SC.SCORES").tree.this.sql(dialect="snowflake") == "DB.SC.SCORES"
    session.update_query_tag.assert_called_once_with(session_tag(QUERY_TAG))


def test_load_operator_refuses_a_folder_without_success_marker(sql_log):
    sql_log.answer(r"^LIST", _listing("data_0_0_0.parquet"))
    op = _load_op()

    with pytest.raises(
        ResultsNotReadyError, match=rf"{re.escape(LOAD_FOLDER)} has no _SUCCESS file.*nothing was loaded"
    ):
        op.execute(_rendered(op))

    assert sql_log.texts == [f"LIST {LOAD_FOLDER}"]  # no file format, table or COPY


# -- sensor -------------------------------------------------------------------------------------


def _sensor() -> SnowflakeBatchInferenceJobSensor:
    return SnowflakeBatchInferenceJobSensor(
        task_id="wait", job_id=JOB_ID, snowflake_conn_id=CONN_ID, deferrable=False
    )


def test_sensor_poke_is_false_while_the_job_runs(services, sql_log):
    job = services.add(JOB_ID, "RUNNING")

    assert _sensor().poke(make_context()) is False

    assert sql_log.texts == [DESCRIBE]  # one statement per poke
    assert services.served[JOB_ID] == ["RUNNING"]
    job.get_logs.assert_not_called()
    job.cancel.assert_not_called()


def test_sensor_poke_raises_naming_a_failed_job(services):
    job = services.add(JOB_ID, "FAILED", logs="Traceback...\nValueError: bad row 17")

    with pytest.raises(BatchJobError, match=rf"(?s)job {re.escape(JOB_ID)} ended FAILED\. .*bad row 17"):
        _sensor().poke(make_context())

    # The state carries the log tail; the task log gets the whole log.
    assert job.get_logs.call_args_list == [mock.call(limit=20), mock.call()]
    job.cancel.assert_not_called()
