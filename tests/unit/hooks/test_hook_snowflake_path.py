"""SnowflakeBatchInferenceHook logic (shared by both backends) exercised on the Snowflake path."""

from __future__ import annotations

import logging
from typing import Any
from unittest import mock

import pytest
from snowflake_doubles import predict_function, route_job_statements, session_tag

from airflow_snowflake_batch.backends.base import InputSource
from airflow_snowflake_batch.exceptions import (
    BatchJobError,
    FunctionResolutionError,
    InputValidationError,
    InvalidIdentifierError,
    ModelNotFoundError,
    StageValidationError,
)
from airflow_snowflake_batch.identifiers import Identifier, ObjectName, StageLocation
from airflow_snowflake_batch.job_status import BatchJobStatus


def _row(**values: Any) -> Any:
    from snowflake.snowpark import Row

    return Row(**values)


def _sql_exception(code: int) -> Exception:
    from snowflake.snowpark.exceptions import SnowparkSQLException

    return SnowparkSQLException(f"error {code}", sql_error_code=code)


def _schema(**types: Any) -> Any:
    from snowflake.snowpark.types import StructField, StructType

    return StructType([StructField(name, dtype) for name, dtype in types.items()])


# -- model, version, function -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model_name", "version", "expected"),
    [("iris", None, "V1"), ("SC.IRIS", "v2", "V2"), ("db.sc.iris", "PROD", "V1"), ("IRIS", "LAST", "V2")],
)
def test_model_names_resolve_against_the_connection_defaults(
    hook, model_registry, model_name, version, expected
):
    ref = hook.get_model_version(model_name, version)
    assert ref.model == ObjectName.parse("DB.SC.IRIS")
    assert ref.version == Identifier(expected)
    assert model_registry.cls.call_args.kwargs == {"database_name": "DB", "schema_name": "SC"}


def test_unknown_model_and_version_errors(hook, model_registry):
    with pytest.raises(ModelNotFoundError, match="DB.SC.ROSES"):
        hook.get_model_version("roses")
    with pytest.raises(ModelNotFoundError, match="'V7'"):
        hook.get_model_version("iris", "V7")


@pytest.fixture
def two_functions(model_registry) -> None:
    model_registry.versions["V1"].show_functions.return_value = [
        predict_function(),
        predict_function(name="PREDICT_PROBA", target_method="predict_proba"),
    ]


def test_function_by_sql_name_or_method(hook, model_registry, two_functions):
    ref = hook.get_model_version("iris")
    assert hook.resolve_function(ref, "predict_proba").name == "PREDICT_PROBA"
    assert hook.resolve_function(ref, "PREDICT").target_method == "predict"


def test_only_function_is_chosen_without_a_name(hook, model_registry):
    assert hook.resolve_function(hook.get_model_version("iris"), None).name == "PREDICT"


@pytest.mark.parametrize("name", [None, "explain"])
def test_ambiguous_or_unknown_function_lists_the_functions(hook, model_registry, two_functions, name):
    ref = hook.get_model_version("iris")
    with pytest.raises(FunctionResolutionError, match="PREDICT, PREDICT_PROBA"):
        hook.resolve_function(ref, name)


# -- input validation ---------------------------------------------------------------------------


@pytest.fixture
def predict(hook, model_registry) -> Any:
    return hook.resolve_function(hook.get_model_version("iris"), None)


def _table_with(session: Any, new_dataframe: Any, **types: Any) -> None:
    session.table.return_value = new_dataframe(_schema(**types))


def test_matching_columns_pass_by_snowflake_case_rules(hook, predict, session, new_dataframe):
    from snowflake.snowpark import types as t

    # sepal_length (valid unquoted) matches SEPAL_LENGTH; SPECIES_CODE as stored.
    _table_with(
        session, new_dataframe, SEPAL_LENGTH=t.DoubleType(), SPECIES_CODE=t.LongType(), EXTRA=t.StringType()
    )
    hook.validate_input(hook.input_source(input_table="scores"), predict)
    session.table.assert_called_once_with("DB.SC.SCORES")


def test_missing_columns_are_named(hook, predict, session, new_dataframe):
    from snowflake.snowpark import types as t

    _table_with(session, new_dataframe, **{'"species_code"': t.LongType(), "OTHER": t.DoubleType()})
    with pytest.raises(InputValidationError) as err:
        hook.validate_input(hook.input_source(input_table="scores"), predict)
    message = str(err.value)
    assert "missing column 'sepal_length'" in message and "missing column 'SPECIES_CODE'" in message
    assert "input table DB.SC.SCORES" in message and "Columns available: species_code, OTHER" in message


def test_type_mismatch_is_reported_with_both_types(hook, predict, session, new_dataframe):
    from snowflake.snowpark import types as t

    _table_with(session, new_dataframe, SEPAL_LENGTH=t.StringType(), SPECIES_CODE=t.LongType())
    with pytest.raises(
        InputValidationError,
        match=r"'SEPAL_LENGTH' has type VARCHAR, but feature 'sepal_length' "
        r"expects DOUBLE",
    ):
        hook.validate_input(hook.input_source(input_table="scores"), predict)


def test_strict_mode_refuses_float_for_integer_features(hook, predict, session, new_dataframe):
    from snowflake.snowpark import types as t

    _table_with(session, new_dataframe, SEPAL_LENGTH=t.DoubleType(), SPECIES_CODE=t.DoubleType())
    source = hook.input_source(input_table="scores")
    hook.validate_input(source, predict, strict=False)
    with pytest.raises(InputValidationError, match="SPECIES_CODE"):
        hook.validate_input(source, predict, strict=True)


def test_query_input_is_described_through_sql(hook, predict, sql_log, new_dataframe):
    from snowflake.snowpark import types as t

    sql_log.answer(r"^SELECT", new_dataframe(_schema(SEPAL_LENGTH=t.DoubleType())))
    with pytest.raises(
        InputValidationError, match="input query does not match.*missing column 'SPECIES_CODE'"
    ):
        hook.validate_input(hook.input_source(input_query="SELECT sepal_length FROM t;"), predict)
    # The newline keeps snowflake-ml's "FROM ({query})" closed when the query ends in a line comment.
    assert sql_log.texts == ["SELECT sepal_length FROM t\n"]


# -- stage validation ---------------------------------------------------------------------------

BASE = StageLocation.parse("@DB.SC.OUT/preds")
FOLDER = BASE.child("JOB_1")
TABLE_SOURCE = InputSource(table=ObjectName.parse("DB.SC.SCORES"))


def _validate(
    hook: Any, *, source: InputSource = TABLE_SOURCE, save_mode: str = "error", files: bool = False
):
    hook.validate_output_location(BASE, FOLDER, source=source, save_mode=save_mode, file_inputs=files)


def test_missing_output_stage(hook, sql_log):
    with pytest.raises(StageValidationError, match=r"Output stage DB.SC.OUT does not exist.*SNOWFLAKE_SSE"):
        _validate(hook)


def test_full_encryption_errors_for_files_and_warns_for_tables(hook, sql_log, caplog):
    sql_log.answer("SHOW STAGES", [_row(name="OUT", type="INTERNAL")])
    files = InputSource(stage_location=StageLocation.parse("@DB.SC.IMAGES/batch"))
    with pytest.raises(StageValidationError, match="SNOWFLAKE_FULL"):
        _validate(hook, source=files, files=True)
    with caplog.at_level("WARNING"):
        _validate(hook)
    assert "SNOWFLAKE_FULL" in caplog.text


def test_sse_stage_with_empty_folder_passes(hook, sql_log):
    sql_log.answer("SHOW STAGES", [_row(name="OUT", type="INTERNAL NO CSE")])
    _validate(hook, source=InputSource(stage_location=StageLocation.parse("@DB.SC.IMAGES/b")), files=True)
    assert sql_log.one("^LIST").sql == "LIST @DB.SC.OUT/preds/JOB_1/"


def test_error_mode_lists_the_job_folder_and_overwrite_does_not(hook, sql_log):
    sql_log.answer("SHOW STAGES", [_row(name="OUT", type="INTERNAL NO CSE")])
    sql_log.answer("^LIST", [_row(name="out/preds/JOB_1/data_0.parquet")])
    with pytest.raises(StageValidationError, match=r"already holds 1 file.*data_0\.parquet"):
        _validate(hook)
    _validate(hook, save_mode="overwrite")
    assert len(sql_log.matching("^LIST")) == 1  # overwrite needs no listing


# -- start_batch_job decision table -------------------------------------------------------------


class Jobs:
    """Job services by name, answered through a patched ``snowflake.ml.jobs.get_job``."""

    def __init__(self, sf_classes: Any) -> None:
        self.sf_classes = sf_classes
        self.status: dict[str, str] = {}

    def get_job(self, job_id: str, session: Any = None) -> Any:
        if job_id not in self.status:
            raise _sql_exception(2003)
        job = mock.create_autospec(self.sf_classes.MLJob, instance=True, spec_set=True)
        job.id = job_id
        job.status = self.status[job_id]
        job.get_logs.return_value = ""
        return job


@pytest.fixture
def jobs(sf_classes, sql_log) -> Any:
    registry = Jobs(sf_classes)
    with (
        mock.patch("snowflake.ml.jobs.get_job", autospec=True, side_effect=registry.get_job),
        route_job_statements(sql_log, registry.get_job),
    ):
        yield registry


@pytest.fixture
def ready(hook, model_registry, session, new_dataframe, sql_log, jobs, sf_classes) -> Any:
    """An SSE output stage, a valid input table, and run_batch registering the submitted job."""
    from snowflake.snowpark import types as t

    _table_with(session, new_dataframe, SEPAL_LENGTH=t.DoubleType(), SPECIES_CODE=t.LongType())
    sql_log.answer("SHOW STAGES", [_row(name="OUT", type="INTERNAL NO CSE")])

    def run_batch(*args: Any, job_name: str, **kwargs: Any) -> Any:
        jobs.status[job_name] = "PENDING"
        return jobs.get_job(job_name)

    model_registry.versions["V1"].run_batch.side_effect = run_batch
    return model_registry.versions["V1"]


def _spec(hook: Any) -> Any:
    return hook.build_batch_job_spec(
        model_name="iris",
        version_name=None,
        function_name=None,
        source=hook.input_source(input_table="scores"),
        compute_pool="pool",
        output_stage_location="@out/preds",
        job_name="job_1",
    )


def test_absent_job_is_submitted_under_the_base_name(hook, ready, jobs):
    start = hook.start_batch_job(_spec(hook), try_number=1)
    assert (start.job_id, start.job_name, start.reattached) == ("DB.SC.JOB_1", "JOB_1", False)
    assert start.output_location.sql == "@DB.SC.OUT/preds/JOB_1/"
    assert ready.run_batch.call_args.kwargs["job_name"] == "DB.SC.JOB_1"


def test_running_job_of_an_earlier_try_is_reattached(hook, ready, jobs):
    jobs.status["DB.SC.JOB_1"] = "RUNNING"
    start = hook.start_batch_job(_spec(hook), try_number=2)
    assert (start.job_id, start.reattached, start.state.status) == (
        "DB.SC.JOB_1",
        True,
        BatchJobStatus.RUNNING,
    )
    ready.run_batch.assert_not_called()


def _record(hook: Any, *, model_version: str | None = None) -> list[Any]:
    """The AIRFLOW_SCORING_RUNS row try 1 wrote for JOB_1 (of another model version, if given)."""
    from dataclasses import replace

    from airflow_snowflake_batch.inference.fingerprint import record

    current = hook.batch_fingerprint(_spec(hook))
    if model_version is not None:
        current = replace(current, model_version=model_version)
    return [record("@DB.SC.OUT/preds/JOB_1/", "{}", current).row()]


def test_done_job_with_success_marker_and_same_fingerprint_is_not_resubmitted(hook, ready, jobs, sql_log):
    jobs.status["DB.SC.JOB_1"] = "DONE"
    sql_log.answer(r"^LIST @DB.SC.OUT/preds/JOB_1/", [_row(name="out/preds/JOB_1/_SUCCESS")])
    sql_log.answer(r"FROM DB.SC.AIRFLOW_SCORING_RUNS WHERE", _record(hook))
    start = hook.start_batch_job(_spec(hook), try_number=3)
    assert (start.job_id, start.reattached, start.state.status) == ("DB.SC.JOB_1", True, BatchJobStatus.DONE)
    assert start.reused
    ready.run_batch.assert_not_called()
    record = sql_log.one(r"FROM DB.SC.AIRFLOW_SCORING_RUNS WHERE")
    assert record.params == ["@DB.SC.OUT/preds/JOB_1/", "{}"]


@pytest.mark.parametrize("record", ["other version", "none"])
def test_done_job_scored_from_something_else_gets_a_new_job(hook, ready, jobs, sql_log, record):
    jobs.status["DB.SC.JOB_1"] = "DONE"
    sql_log.answer(r"^LIST @DB.SC.OUT/preds/JOB_1/", [_row(name="out/preds/JOB_1/_SUCCESS")])
    if record == "other version":
        sql_log.answer(r"FROM DB.SC.AIRFLOW_SCORING_RUNS WHERE", _record(hook, model_version="V0"))
    start = hook.start_batch_job(_spec(hook), try_number=2)
    assert (start.job_id, start.reattached, start.reused) == ("DB.SC.JOB_1_T2", False, False)
    assert ready.run_batch.call_args.kwargs["job_name"] == "DB.SC.JOB_1_T2"
    # The new job's record is written before it is submitted, with this run's fingerprint.
    insert = sql_log.one(r"^INSERT INTO DB.SC.AIRFLOW_SCORING_RUNS")
    assert insert.params[:3] == [
        "@DB.SC.OUT/preds/JOB_1_T2/",
        "{}",
        hook.batch_fingerprint(_spec(hook)).value,
    ]
    assert sql_log.texts.index(insert.sql) < len(sql_log.texts)


def test_rescore_always_submits_a_new_job_even_when_nothing_changed(hook, ready, jobs, sql_log):
    jobs.status["DB.SC.JOB_1"] = "DONE"
    sql_log.answer(r"^LIST @DB.SC.OUT/preds/JOB_1/", [_row(name="out/preds/JOB_1/_SUCCESS")])
    sql_log.answer(r"FROM DB.SC.AIRFLOW_SCORING_RUNS WHERE", _record(hook))
    start = hook.start_batch_job(_spec(hook), try_number=2, rescore="always")
    assert (start.job_id, start.reused) == ("DB.SC.JOB_1_T2", False)


def test_done_job_without_success_marker_is_finished_its_status_standing_in(
    hook, ready, jobs, sql_log, caplog
):
    jobs.status["DB.SC.JOB_1"] = "DONE"  # LIST answers nothing: no _SUCCESS
    sql_log.answer(r"FROM DB.SC.AIRFLOW_SCORING_RUNS WHERE", _record(hook))  # nothing changed since
    with caplog.at_level(logging.WARNING):
        start = hook.start_batch_job(_spec(hook), try_number=2)
    assert sql_log.matching(r"^LIST @DB.SC.OUT/preds/JOB_1/")
    assert (start.job_id, start.reattached, start.state.status) == ("DB.SC.JOB_1", True, BatchJobStatus.DONE)
    ready.run_batch.assert_not_called()
    assert (
        "Job DB.SC.JOB_1 ended DONE but @DB.SC.OUT/preds/JOB_1/ has no _SUCCESS file: the job's status stands in"
        in caplog.text
    )


def test_earlier_names_without_a_job_are_dropped_before_submitting(hook, ready, jobs, sql_log):
    # Try 2 was killed before its job existed (its submit may have left files); try 1's job failed.
    jobs.status["DB.SC.JOB_1"] = "FAILED"
    start = hook.start_batch_job(_spec(hook), try_number=3)
    assert start.job_id == "DB.SC.JOB_1_T3"
    drops = [s.sql for s in sql_log.sent if s.sql.startswith("DROP SERVICE")]
    assert drops == ["DROP SERVICE IF EXISTS DB.SC.JOB_1_T2"]


def test_stale_job_under_this_tries_name_is_dropped_first(hook, ready, jobs, sql_log):
    # Try 1's job failed; the job named for this very try exists too (an earlier attempt of try 1 left it).
    jobs.status["DB.SC.JOB_1"] = "FAILED"
    start = hook.start_batch_job(_spec(hook), try_number=1)
    assert start.job_id == "DB.SC.JOB_1" and not start.reattached
    drop = sql_log.one("^DROP SERVICE")
    assert drop.sql == "DROP SERVICE IF EXISTS DB.SC.JOB_1"
    remove = sql_log.one("^REMOVE")
    assert remove.sql == "REMOVE @DB.SC.OUT/preds/JOB_1/"
    assert sql_log.sent.index(drop) < sql_log.sent.index(remove)
    ready.run_batch.assert_called_once()


def test_invalid_input_stops_before_anything_is_dropped_or_submitted(
    hook, ready, jobs, session, new_dataframe, sql_log
):
    from snowflake.snowpark import types as t

    _table_with(session, new_dataframe, WRONG=t.DoubleType())
    jobs.status["DB.SC.JOB_1"] = "FAILED"  # try 3 would drop JOB_1_T2 and submit JOB_1_T3
    with pytest.raises(InputValidationError):
        hook.start_batch_job(_spec(hook), try_number=3)
    ready.run_batch.assert_not_called()
    assert sql_log.matching("^(DROP|REMOVE)") == []  # inputs are checked before anything is dropped


def test_get_job_state_of_an_unknown_job_raises(hook, jobs):
    with pytest.raises(BatchJobError, match="job gone does not exist"):
        hook.get_job_state("gone")


# -- retries ------------------------------------------------------------------------------------


class ConnectorError(Exception):
    """Shaped like snowflake.connector errors: an ``errno`` attribute."""

    def __init__(self, errno: int) -> None:
        super().__init__(f"connector error {errno}")
        self.errno = errno


@pytest.fixture
def sleeps() -> Any:
    with mock.patch("tenacity.nap.time.sleep") as patched:
        yield patched


@pytest.mark.parametrize(
    "error",
    [ConnectionError("reset"), ConnectorError(250001), _sql_exception(250003)],
    ids=["ConnectionError", "errno-250001", "snowpark-wrapped-250003"],
)
def test_transient_errors_are_retried(hook, sql_log, sleeps, error):
    errors = [error]

    def flaky(query: str, params: Any) -> list[Any]:
        if errors:
            raise errors.pop()
        return [_row(name="out/preds/_SUCCESS")]

    sql_log.answer("^LIST", flaky)
    assert hook.list_files("@DB.SC.OUT/preds/") == ["_SUCCESS"]
    assert sleeps.call_count == 1
    assert len(sql_log.matching("^LIST")) == 2


@pytest.mark.parametrize(
    "expired", [ConnectorError(390114), _sql_exception(390114)], ids=["connector", "snowpark-wrapped"]
)
def test_expired_session_is_recreated(
    hook, sf_classes, sql_log, sleeps, snowpark_session_factory, session, expired
):
    fresh = mock.create_autospec(sf_classes.Session, instance=True, spec_set=True)
    fresh.sql.side_effect = sql_log
    snowpark_session_factory.side_effect = [session, fresh]
    calls = {"n": 0}

    def expire_once(query: str, params: Any) -> list[Any]:
        calls["n"] += 1
        if calls["n"] == 1:
            raise expired
        return [_row(name="OUT", type="INTERNAL")]

    sql_log.answer("SHOW STAGES", expire_once)
    with pytest.raises(StageValidationError, match="SNOWFLAKE_FULL"):  # answered by the fresh session
        _validate(hook, files=True)
    session.close.assert_called_once_with()
    assert snowpark_session_factory.call_count == 2
    fresh.sql.assert_called_once()


@pytest.mark.parametrize("error", [ValueError("bad"), _sql_exception(2043)], ids=["ValueError", "sql-2043"])
def test_permanent_errors_are_not_retried(hook, sql_log, sleeps, error):
    sql_log.answer("^LIST", error)
    with pytest.raises(type(error)):
        hook.list_files("@DB.SC.OUT/preds/")
    assert len(sql_log.matching("^LIST")) == 1
    sleeps.assert_not_called()


# -- session ------------------------------------------------------------------------------------


def test_query_tag_and_context_manager_close(conn_env, snowpark_session_factory, session, sql_log):
    from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook

    tag = {"dag_id": "scoring", "task_id": "score", "run_id": "manual__1"}
    with SnowflakeBatchInferenceHook("sf_test", query_tag=tag) as hook:
        hook.list_files("@out/preds")
        session.update_query_tag.assert_called_once_with(session_tag(tag))
        session.close.assert_not_called()
    session.close.assert_called_once_with()
    hook.close()  # a second close is harmless
    session.close.assert_called_once_with()


# -- injection ----------------------------------------------------------------------------------

EVIL = "T; DROP TABLE X"


@pytest.mark.parametrize(
    "call",
    [
        lambda h: h.input_source(input_table=EVIL),
        lambda h: h.load_results(output_location="@DB.SC.OUT/preds/J", target_table=EVIL),
        lambda h: h.load_results(output_location=f"@{EVIL}/x", target_table="T"),
        lambda h: h.list_files(f"@DB.SC.OUT/{EVIL}"),
        lambda h: h.get_model_version(EVIL),
        lambda h: h.get_model_version("iris", EVIL),
        lambda h: h.get_job_state(EVIL),
        lambda h: h.drop_job(EVIL),
        lambda h: h.cancel_job(EVIL),
        lambda h: h.run_warehouse_inference(
            model_name="iris",
            version_name=None,
            function_name=None,
            source=InputSource(table=ObjectName.parse("DB.SC.T")),
            output_table=EVIL,
        ),
    ],
    ids=[
        "input_table",
        "target_table",
        "stage",
        "stage_path",
        "model",
        "version",
        "job_state",
        "drop_job",
        "cancel_job",
        "output_table",
    ],
)
def test_injected_names_are_rejected_before_any_sql(hook, sql_log, model_registry, call):
    with pytest.raises(InvalidIdentifierError):
        call(hook)
    assert sql_log.sent == []
    model_registry.cls.assert_not_called()


def test_injected_job_name_is_rejected_before_any_sql(hook, model_registry, sql_log):
    with pytest.raises(InvalidIdentifierError, match="job_name"):
        hook.build_batch_job_spec(
            model_name="iris",
            version_name=None,
            function_name=None,
            source=InputSource(table=ObjectName.parse("DB.SC.T")),
            compute_pool="pool",
            output_stage_location="@out/preds",
            job_name=EVIL,
        )
    assert sql_log.sent == []


# -- warehouse inference through the hook -------------------------------------------------------


def _warehouse(hook: Any, **kwargs: Any) -> Any:
    args = dict(
        model_name="iris",
        version_name="PROD",
        function_name=None,
        source=hook.input_source(input_table="scores"),
        output_table="preds",
    )
    return hook.run_warehouse_inference(**{**args, **kwargs})


def test_warehouse_inference_validates_then_scores(hook, model_registry, session, new_dataframe, sql_log):
    from snowflake.snowpark import types as t

    _table_with(session, new_dataframe, SEPAL_LENGTH=t.DoubleType(), SPECIES_CODE=t.LongType())
    model_registry.versions["V1"].run.return_value = new_dataframe(
        _schema(SEPAL_LENGTH=t.DoubleType(), SPECIES_CODE=t.LongType(), OUTPUT_FEATURE_0=t.DoubleType())
    )
    sql_log.answer(r"COUNT\(\*\)", [_row(n=42)])
    table, rows, ref = _warehouse(hook, output_partition={"ds": "2024-01-01"})
    assert (table.sql, rows, ref.version.value) == ("DB.SC.PREDS", 42, "V1")
    assert sql_log.one("^DELETE FROM DB.SC.PREDS").params == ["2024-01-01"]
    # What scored the replaced partition (and the whole table) is forgotten before the write.
    forgotten = sql_log.one("^DELETE FROM DB.SC.AIRFLOW_SCORING_RUNS")
    assert forgotten.params == ["DB.SC.PREDS", '{"DS":"2024-01-01"}', "{}"]


def test_warehouse_inference_stops_before_scoring_on_bad_input(hook, model_registry, session, new_dataframe):
    from snowflake.snowpark import types as t

    _table_with(session, new_dataframe, SEPAL_LENGTH=t.DoubleType())
    with pytest.raises(InputValidationError, match="SPECIES_CODE"):
        _warehouse(hook)
    with pytest.raises(InputValidationError, match=r"Unknown params \['temperature'\]"):
        _warehouse(hook, params={"temperature": 1.0})
    with pytest.raises(InputValidationError, match="output_partition value"):
        _warehouse(hook, output_partition={"ds": [1]})
    model_registry.versions["V1"].run.assert_not_called()


def test_test_connection_on_snowflake_runs_the_snowflake_providers_query_not_the_backend(
    hook, snowpark_session_factory
):
    # The Snowflake provider's check (a query through the connector) applies: its failure is reported,
    # not raised, and no Snowpark session (the backend) is opened for it.
    with mock.patch(
        # connect is a class alias (SnowflakeConnection): autospec would make it want ``self``.
        "snowflake.connector.connect",
        side_effect=ConnectionError("account unreachable"),
    ) as connect:
        assert hook.test_connection() == (False, "account unreachable")
    connect.assert_called_once()
    snowpark_session_factory.assert_not_called()
