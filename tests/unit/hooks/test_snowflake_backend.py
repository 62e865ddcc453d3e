"""SnowflakeBackend against autospecs of the real Snowpark and snowflake-ml classes; SQL parsed by sqlglot."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from snowflake_doubles import predict_function, route_job_statements, session_tag
from sqlglot import exp

from airflow_snowflake_batch.backends.base import (
    BatchJobSpec,
    InputSource,
    LoadResultsRequest,
    WarehouseInferenceRequest,
)
from airflow_snowflake_batch.exceptions import ModelNotFoundError
from airflow_snowflake_batch.identifiers import Identifier, ObjectName, StageLocation
from airflow_snowflake_batch.inference.signature import sql_type_family
from airflow_snowflake_batch.job_status import BatchJobStatus

TABLE = ObjectName.parse("DB.SC.SCORES")
MODEL = ObjectName.parse("DB.SC.IRIS")
OUT = StageLocation.parse("@DB.SC.OUT/preds/")


def _row(**values: Any) -> Any:
    from snowflake.snowpark import Row

    return Row(**values)


def _sql_exception(code: int) -> Exception:
    from snowflake.snowpark.exceptions import SnowparkSQLException

    return SnowparkSQLException(f"error {code}", sql_error_code=code)


# -- session ------------------------------------------------------------------------------------


def test_session_is_created_lazily_once_with_query_tag_and_closed(hook, session, snowpark_session_factory):
    backend = hook.backend
    snowpark_session_factory.assert_not_called()
    assert backend.session is backend.session
    snowpark_session_factory.assert_called_once()
    session.update_query_tag.assert_called_once_with(
        session_tag({"dag_id": "d", "task_id": "t", "run_id": "r"})
    )
    hook.close()
    session.close.assert_called_once_with()


def test_defaults_come_from_the_connection(backend):
    assert (backend.default_database, backend.default_schema) == (Identifier("DB"), Identifier("SC"))


def test_hook_overrides_beat_the_connection(conn_env, snowpark_session_factory):
    from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook

    with SnowflakeBatchInferenceHook("sf_test", database="other", schema='"Mixed"') as hook:
        assert hook.backend.default_database == Identifier("OTHER")
        assert hook.backend.default_schema == Identifier("Mixed")


# -- registry -----------------------------------------------------------------------------------


def test_default_version_and_functions(backend, session, model_registry):
    ref = backend.get_model_version(MODEL, None)
    model_registry.cls.assert_called_once_with(session, database_name="DB", schema_name="SC")
    model_registry.cls.return_value.get_model.assert_called_once_with("IRIS")
    assert ref.version == Identifier("V1")
    (function,) = ref.functions
    assert (function.name, function.target_method, function.function_type) == (
        "PREDICT",
        "predict",
        "FUNCTION",
    )
    assert [(f.name, f.dtype) for f in function.inputs] == [
        ("sepal_length", "DOUBLE"),
        ("SPECIES_CODE", "INT64"),
    ]
    assert [(f.name, f.dtype) for f in function.outputs] == [("output_feature_0", "DOUBLE")]


@pytest.mark.parametrize(
    ("asked", "resolved"), [("V2", "V2"), ("PROD", "V1"), ("LAST", "V2"), ("first", "V1")]
)
def test_versions_and_aliases_resolve_to_a_version_name(backend, model_registry, asked, resolved):
    assert backend.get_model_version(MODEL, asked).version == Identifier(resolved)
    model_registry.model.version.assert_called_with(asked)


def test_missing_model_is_named(backend, model_registry):
    with pytest.raises(ModelNotFoundError, match=r"DB\.SC\.NOPE does not exist"):
        backend.get_model_version(ObjectName.parse("DB.SC.NOPE"), None)


def test_missing_version_is_named(backend, model_registry):
    with pytest.raises(ModelNotFoundError, match=r"DB\.SC\.IRIS has no version or alias 'V9'"):
        backend.get_model_version(MODEL, "V9")


def test_missing_schema_is_a_missing_model_but_other_sql_errors_propagate(backend, registry_cls):
    from snowflake.snowpark.exceptions import SnowparkSQLException

    registry_cls.return_value.get_model.side_effect = _sql_exception(2003)
    with pytest.raises(ModelNotFoundError):
        backend.get_model_version(MODEL, None)
    registry_cls.return_value.get_model.side_effect = _sql_exception(3001)
    with pytest.raises(SnowparkSQLException):
        backend.get_model_version(MODEL, None)


def test_feature_groups_are_kept_whole_and_params_carried(backend, model_registry, make_model_version):
    from snowflake.ml.model import model_signature as ms

    group = ms.FeatureGroupSpec(
        "messages",
        [ms.FeatureSpec("role", ms.DataType.STRING), ms.FeatureSpec("content", ms.DataType.STRING)],
        shape=(-1,),
    )
    function = predict_function(
        name='"chat"',
        target_method="chat",
        inputs=[group],
        params=[ms.ParamSpec("temperature", ms.DataType.DOUBLE, 0.7)],
    )
    model_registry.versions["V1"].show_functions.return_value = [function]
    (fn,) = backend.get_model_version(MODEL, None).functions
    assert fn.name == "chat"
    assert [(f.name, f.dtype, f.shape) for f in fn.inputs] == [("messages", "OBJECT", (-1,))]
    assert [(p.name, p.dtype, p.default) for p in fn.params] == [("temperature", "DOUBLE", 0.7)]


# -- catalog ------------------------------------------------------------------------------------


def _schema(*fields: tuple[str, Any]) -> Any:
    from snowflake.snowpark.types import StructField, StructType

    return StructType([StructField(name, dtype) for name, dtype in fields])


def test_describe_input_table_reports_stored_names_and_snowflake_types(backend, session, new_dataframe):
    from snowflake.snowpark import types as t

    session.table.return_value = new_dataframe(
        _schema(("SEPAL_LENGTH", t.DoubleType()), ('"Species Code"', t.LongType()), ("NAME", t.StringType()))
    )
    columns = backend.describe_input(InputSource(table=TABLE))
    session.table.assert_called_once_with("DB.SC.SCORES")
    assert [(c.name, c.sql_type) for c in columns] == [
        ("SEPAL_LENGTH", "FLOAT"),
        ("Species Code", "NUMBER(38,0)"),
        ("NAME", "VARCHAR"),
    ]
    session.table.return_value.collect.assert_not_called()


def test_describe_input_query_uses_session_sql(backend, sql_log, new_dataframe):
    from snowflake.snowpark import types as t

    sql_log.answer(r"^SELECT a", new_dataframe(_schema(("A", t.BooleanType()))))
    columns = backend.describe_input(InputSource(query="SELECT a FROM DB.SC.T"))
    assert [(c.name, c.sql_type) for c in columns] == [("A", "BOOLEAN")]


@pytest.mark.parametrize(
    ("datatype", "name", "family"),
    [
        ("LongType()", "NUMBER(38,0)", "integer"),
        ("IntegerType()", "NUMBER(38,0)", "integer"),
        ("DecimalType(38, 0)", "NUMBER(38,0)", "integer"),
        ("DecimalType(10, 2)", "NUMBER(10,2)", "float"),
        ("DoubleType()", "FLOAT", "float"),
        ("StringType()", "VARCHAR", "string"),
        ("BooleanType()", "BOOLEAN", "boolean"),
        ("BinaryType()", "BINARY", "binary"),
        ("TimestampType(TimestampTimeZone.NTZ)", "TIMESTAMP_NTZ", "timestamp"),
        ("TimestampType(TimestampTimeZone.LTZ)", "TIMESTAMP_LTZ", "timestamp"),
        ("DateType()", "DATE", "timestamp"),
        ("VariantType()", "VARIANT", "semi-structured"),
        ("ArrayType(StringType())", "ARRAY", "semi-structured"),
        ("MapType(StringType(), StringType())", "OBJECT", "semi-structured"),
    ],
)
def test_type_names_are_classified_by_validation(datatype, name, family):
    from snowflake.snowpark import types as t

    from airflow_snowflake_batch.backends.snowflake import snowflake_type_name

    rendered = snowflake_type_name(eval(datatype, vars(t)))  # noqa: S307 - test table of constructors
    assert rendered == name
    assert sql_type_family(rendered) == family


def test_describe_stage_maps_show_stages_type(backend, sql_log):
    sql_log.answer(
        r"SHOW STAGES", [_row(name="OUT_X", type="INTERNAL"), _row(name="OUT", type="INTERNAL NO CSE")]
    )
    info = backend.describe_stage(ObjectName.parse("DB.SC.OUT"))
    assert (info.is_internal, info.encryption) == (True, "SNOWFLAKE_SSE")
    show = sql_log.one("SHOW STAGES")
    assert isinstance(show.tree, exp.Show)
    assert show.tree.args["scope"].sql(dialect="snowflake") == "DB.SC"


@pytest.mark.parametrize(
    ("stage_type", "internal", "encryption"),
    [
        ("INTERNAL", True, "SNOWFLAKE_FULL"),
        ("INTERNAL NO CSE", True, "SNOWFLAKE_SSE"),
        ("EXTERNAL", False, None),
    ],
)
def test_stage_types(backend, sql_log, stage_type, internal, encryption):
    # "_" is a LIKE wildcard, so SHOW may also return MYXSTAGE: only the exact name counts.
    sql_log.answer(
        r"SHOW STAGES",
        [
            _row(name="MYXSTAGE", type="EXTERNAL" if internal else "INTERNAL"),
            _row(name="MY_STAGE", type=stage_type),
        ],
    )
    info = backend.describe_stage(ObjectName.parse("DB.SC.MY_STAGE"))
    assert (info.is_internal, info.encryption) == (internal, encryption)
    assert sql_log.one("SHOW STAGES").tree.args["like"].this == "MY_STAGE"


def test_missing_stage_is_none(backend, sql_log):
    sql_log.answer(r"SHOW STAGES", [])
    assert backend.describe_stage(ObjectName.parse("DB.SC.OUT")) is None


def test_quoted_stage_name_in_like_is_a_string_literal(backend, sql_log):
    sql_log.answer(r"SHOW STAGES", [_row(name="it's", type="INTERNAL")])
    assert backend.describe_stage(ObjectName.parse('DB.SC."it\'s"')) is not None
    assert sql_log.one("SHOW STAGES").tree.args["like"].this == "it's"


def test_list_files_relative_to_location(backend, sql_log):
    sql_log.answer(
        r"^LIST",
        [
            _row(name="out/preds/JOB/b.parquet", size=1),
            _row(name="out/preds/JOB/_SUCCESS", size=0),
            _row(name="out/preds/JOB/part/a.parquet", size=1),
        ],
    )
    files = backend.list_files(OUT.child("JOB"))
    assert files == ["_SUCCESS", "b.parquet", "part/a.parquet"]
    assert sql_log.texts == ["LIST @DB.SC.OUT/preds/JOB/"]


def test_remove_files(backend, sql_log):
    backend.remove_files(OUT.child("JOB"))
    assert sql_log.texts == ["REMOVE @DB.SC.OUT/preds/JOB/"]


def test_table_exists_compares_names_exactly(backend, sql_log):
    sql_log.answer(r"SHOW TABLES", [_row(name="SCORES_2")])
    assert backend.table_exists(TABLE) is False
    sql_log.answer(r"SHOW TABLES", [_row(name="SCORES_2"), _row(name="SCORES")])
    assert backend.table_exists(TABLE) is True


# -- warehouse inference ------------------------------------------------------------------------


@pytest.fixture
def ref(backend, model_registry) -> Any:
    return backend.get_model_version(MODEL, "V1")


def _request(ref: Any, **kwargs: Any) -> WarehouseInferenceRequest:
    defaults = dict(
        model=ref,
        function=ref.functions[0],
        source=InputSource(table=TABLE),
        output_table=ObjectName.parse("DB.SC.PREDS"),
        mode="overwrite",
    )
    return WarehouseInferenceRequest(**{**defaults, **kwargs})


def _scored(model_registry: Any, new_dataframe: Any, session: Any) -> Any:
    from snowflake.snowpark import types as t

    scored = new_dataframe(_schema(("SEPAL_LENGTH", t.DoubleType()), ("DS", t.StringType())))
    model_registry.versions["V1"].run.return_value = scored
    session.table.return_value = new_dataframe(
        _schema(("SEPAL_LENGTH", t.DoubleType()), ("DS", t.StringType()))
    )
    return scored


def _kinds(sql_log: Any) -> list[str]:
    return [type(s.tree).__name__ for s in sql_log.sent]


def test_warehouse_overwrite_deletes_and_inserts_in_one_transaction_never_replacing_the_table(
    backend, ref, model_registry, new_dataframe, session, sql_log
):
    scored = _scored(model_registry, new_dataframe, session)
    sql_log.answer(r"COUNT\(\*\)", [_row(**{"COUNT(*)": 150})])
    sql_log.answer(r"^SHOW COLUMNS", [_row(column_name="SEPAL_LENGTH"), _row(column_name="DS")])
    rows = backend.run_warehouse_inference(_request(ref, params={}, strict_input_validation=True))
    assert rows == 150
    model_registry.versions["V1"].run.assert_called_once_with(
        session.table.return_value,
        function_name="PREDICT",
        partition_column=None,
        strict_input_validation=True,
        params=None,
    )
    (staging_call,) = scored.write.save_as_table.call_args_list
    staging = staging_call.args[0]
    assert staging.startswith("DB.SC.AIRFLOW_SNOWFLAKE_BATCH_TMP_")
    assert staging_call.kwargs == {"mode": "errorifexists", "table_type": "temporary"}
    # The table object stays (grants, comments, policies): no save_as_table(mode="overwrite"), no
    # CREATE OR REPLACE; its rows are replaced in one transaction.
    session.table.return_value.write.save_as_table.assert_not_called()
    assert not any(s.tree.args.get("replace") for s in sql_log.sent)
    assert _kinds(sql_log) == [
        "Select", "Create", "Show", "Transaction", "Delete", "Insert", "Commit", "Drop"
    ]  # fmt: skip
    delete = sql_log.one(r"^DELETE")
    assert delete.sql == "DELETE FROM DB.SC.PREDS" and not delete.params
    insert = sql_log.one(r"^INSERT")
    assert [c.name for c in insert.tree.this.expressions] == ["SEPAL_LENGTH", "DS"]
    count = sql_log.one(r"COUNT")
    assert count.tree.find(exp.Table).sql(dialect="snowflake") == staging
    assert sql_log.one(r"^DROP TABLE").tree.find(exp.Table).sql(dialect="snowflake") == staging
    # Nothing was pulled to the worker.
    scored.collect.assert_not_called()
    scored.to_pandas.assert_not_called()


def test_warehouse_append_without_partition_inserts_without_deleting(
    backend, ref, model_registry, new_dataframe, session, sql_log
):
    _scored(model_registry, new_dataframe, session)
    sql_log.answer(r"COUNT\(\*\)", [_row(c=2)])
    sql_log.answer(r"^SHOW COLUMNS", [_row(column_name="SEPAL_LENGTH"), _row(column_name="DS")])
    backend.run_warehouse_inference(_request(ref, mode="append"))
    assert _kinds(sql_log) == ["Select", "Create", "Show", "Insert", "Drop"]


def test_warehouse_partition_replaces_the_partition_in_one_transaction(
    backend, ref, model_registry, new_dataframe, session, sql_log
):
    from snowflake.snowpark.functions import lit

    scored = _scored(model_registry, new_dataframe, session)
    sql_log.answer(r"COUNT\(\*\)", [_row(c=3)])
    # The table exists without the partition column: it is added before the transaction.
    sql_log.answer(r"^SHOW COLUMNS", [_row(column_name="SEPAL_LENGTH")])
    rows = backend.run_warehouse_inference(
        _request(ref, mode="overwrite", partition={"DS": "2024-01-01"}, params={"threshold": 0.5})
    )
    assert rows == 3
    assert model_registry.versions["V1"].run.call_args.kwargs["params"] == {"threshold": 0.5}
    (call,) = scored.with_column.call_args_list
    assert call.args[0] == "DS"
    assert str(call.args[1]) == str(lit("2024-01-01"))
    assert _kinds(sql_log) == [
        "Select", "Create", "Show", "Alter", "Transaction", "Delete", "Insert", "Commit", "Drop"
    ]  # fmt: skip
    create = sql_log.sent[1].tree
    assert create.args["exists"] and create.this.sql(dialect="snowflake") == "DB.SC.PREDS"
    assert sql_log.one("^ALTER").sql == "ALTER TABLE DB.SC.PREDS ADD COLUMN IF NOT EXISTS DS VARCHAR"
    delete = sql_log.one(r"^DELETE")
    assert delete.tree.this.sql(dialect="snowflake") == "DB.SC.PREDS"
    where = delete.tree.args["where"].this
    assert (
        isinstance(where, exp.EQ)
        and where.this.name == "DS"
        and isinstance(where.expression, exp.Placeholder)
    )
    assert delete.params == ["2024-01-01"]  # only that partition, even in overwrite mode
    insert = sql_log.one(r"^INSERT")
    assert [c.name for c in insert.tree.this.expressions] == ["SEPAL_LENGTH", "DS"]
    session.table.return_value.write.save_as_table.assert_not_called()


def test_warehouse_partition_rolls_back_when_the_insert_fails(
    backend, ref, model_registry, new_dataframe, session, sql_log
):
    _scored(model_registry, new_dataframe, session)
    sql_log.answer(r"COUNT\(\*\)", [_row(c=3)])
    sql_log.answer(r"^INSERT", RuntimeError("insert failed"))
    with pytest.raises(RuntimeError, match="insert failed"):
        backend.run_warehouse_inference(_request(ref, partition={"DS": "x"}))
    kinds = _kinds(sql_log)
    assert kinds[-3:] == ["Insert", "Rollback", "Drop"]
    assert "Commit" not in kinds


# -- batch jobs ---------------------------------------------------------------------------------


def _job_spec(ref: Any, **kwargs: Any) -> BatchJobSpec:
    defaults = dict(
        model=ref,
        function=ref.functions[0],
        source=InputSource(table=TABLE),
        job_name=ObjectName.parse("DB.SC.JOB_1"),
        compute_pool=Identifier("POOL"),
        output_location=OUT,
    )
    return BatchJobSpec(**{**defaults, **kwargs})


def _ml_job(sf_classes: Any, job_id: str = "DB.SC.JOB_1", status: str = "PENDING") -> Any:
    job = mock.create_autospec(sf_classes.MLJob, instance=True, spec_set=True)
    job.id = job_id
    job.status = status
    return job


def test_submit_job_minimal_omits_empty_specs(backend, ref, model_registry, session, sf_classes):
    from snowflake.ml.model.batch_inference import OutputSpec, SaveMode

    mv = model_registry.versions["V1"]
    mv.run_batch.return_value = _ml_job(sf_classes)
    assert backend.submit_job(_job_spec(ref)) == "DB.SC.JOB_1"
    mv.run_batch.assert_called_once_with(
        session.table.return_value,
        input_stage_location=None,
        compute_pool="POOL",
        output_spec=OutputSpec(stage_location="@DB.SC.OUT/preds/", mode=SaveMode.ERROR),
        input_spec=None,
        resources_spec=None,
        inference_spec=None,
        image_build_spec=None,
        function_name="PREDICT",
        job_name="DB.SC.JOB_1",
        replicas=None,
    )
    session.table.assert_called_with("DB.SC.SCORES")


def test_submit_job_full_options_from_stage(backend, ref, model_registry, sf_classes):
    from snowflake.ml.model import batch_inference as bi

    mv = model_registry.versions["V1"]
    mv.run_batch.return_value = _ml_job(sf_classes, "DB.SC.JOB_1_T2")
    spec = _job_spec(
        ref,
        source=InputSource(stage_location=StageLocation.parse("@DB.SC.INPUTS/imgs")),
        job_name=ObjectName.parse("DB.SC.JOB_1_T2"),
        save_mode="overwrite",
        replicas=2,
        num_workers=4,
        max_batch_rows=512,
        cpu_requests="4",
        memory_requests="8Gi",
        gpu_requests="1",
        params={"temperature": 0.2},
        column_handling={"IMG": {"input_format": "full_stage_path", "convert_to": "base64"}},
        engine="vllm",
        engine_args_override=("--max-model-len=4096",),
        image_repo="DB.SC.REPO",
        force_rebuild=True,
    )
    assert backend.submit_job(spec) == "DB.SC.JOB_1_T2"
    (args, kwargs) = mv.run_batch.call_args
    assert args == (None,)
    assert kwargs["input_stage_location"] == "@DB.SC.INPUTS/imgs/"
    assert kwargs["output_spec"] == bi.OutputSpec(
        stage_location="@DB.SC.OUT/preds/", mode=bi.SaveMode.OVERWRITE
    )
    assert kwargs["input_spec"] == bi.InputSpec(
        params={"temperature": 0.2},
        column_handling={"IMG": {"input_format": "full_stage_path", "convert_to": "base64"}},
    )
    assert kwargs["resources_spec"] == bi.ResourcesSpec(
        cpu_requests="4", memory_requests="8Gi", gpu_requests="1"
    )
    assert kwargs["inference_spec"] == bi.InferenceSpec(
        num_workers=4,
        max_batch_rows=512,
        engine_options=bi.EngineOptions(engine="vllm", engine_args_override=["--max-model-len=4096"]),
    )
    assert kwargs["image_build_spec"] == bi.ImageBuildSpec(image_repo="DB.SC.REPO", force_rebuild=True)
    assert (kwargs["job_name"], kwargs["replicas"]) == ("DB.SC.JOB_1_T2", 2)


@pytest.fixture
def get_job(sql_log: Any) -> Any:
    """The job double the backend's job statements are answered from (tests/unit/snowflake_doubles.py)."""
    lookup = mock.Mock(name="get_job")
    with route_job_statements(sql_log, lambda job_id: lookup(job_id)):
        yield lookup


@pytest.mark.parametrize(
    "status", ["PENDING", "RUNNING", "DONE", "CANCELLED", "SUSPENDING", "SUSPENDED", "DELETING"]
)
def test_job_state(backend, session, get_job, sf_classes, status):
    get_job.return_value = _ml_job(sf_classes, status=status)
    state = backend.get_job_state("DB.SC.JOB_1")
    get_job.assert_called_once_with("DB.SC.JOB_1")
    assert (state.job_id, state.status, state.message) == ("DB.SC.JOB_1", BatchJobStatus(status), "")


def test_failed_job_state_carries_the_log_tail(backend, get_job, sf_classes):
    job = get_job.return_value = _ml_job(sf_classes, status="FAILED")
    job.get_logs.return_value = "Traceback...\nValueError: bad row"
    state = backend.get_job_state("DB.SC.JOB_1")
    assert state.status is BatchJobStatus.FAILED and "bad row" in state.message
    job.get_logs.side_effect = _sql_exception(2003)
    assert backend.get_job_state("DB.SC.JOB_1").message == ""


def test_absent_job_is_none_other_errors_raise(backend, get_job):
    from snowflake.snowpark.exceptions import SnowparkSQLException

    get_job.side_effect = _sql_exception(2003)
    assert backend.get_job_state("DB.SC.NOPE") is None
    get_job.side_effect = _sql_exception(3001)
    with pytest.raises(SnowparkSQLException):
        backend.get_job_state("DB.SC.NOPE")


def test_job_states_take_one_show_per_schema(backend, get_job, sf_classes, sql_log):
    def listing(query, params):
        if query.endswith(" DB.SC"):
            return [
                _row(name="JOB_1", status="RUNNING"),
                _row(name="JOB_2", status="DONE"),
                _row(name="JOB_3", status="FAILED"),
                _row(name="OTHER", status="RUNNING"),
            ]
        return [_row(name="JOB_4", status="PENDING")]

    sql_log.answer(r"SHOW JOB SERVICES", listing)
    failed = _ml_job(sf_classes, "DB.SC.JOB_3", status="FAILED")
    failed.get_logs.return_value = "ValueError: bad row"

    def get_one(job_id):
        if job_id == "DB.SC.JOB_3":
            return failed
        raise _sql_exception(2003)

    get_job.side_effect = get_one

    states = backend.get_job_states(
        ["DB.SC.JOB_1", "DB.SC.JOB_2", "DB.SC.JOB_3", "DB.SC.GONE", "DB.SC2.JOB_4"]
    )

    assert {k: (v and v.status) for k, v in states.items()} == {
        "DB.SC.JOB_1": BatchJobStatus.RUNNING,
        "DB.SC.JOB_2": BatchJobStatus.DONE,
        "DB.SC.JOB_3": BatchJobStatus.FAILED,
        "DB.SC.GONE": None,
        "DB.SC2.JOB_4": BatchJobStatus.PENDING,
    }
    assert "bad row" in states["DB.SC.JOB_3"].message
    # One listing per schema whatever the number of jobs; only the failed and the unlisted job alone.
    shows = sql_log.matching(r"SHOW JOB SERVICES")
    assert [s.sql for s in shows] == [
        "SHOW JOB SERVICES IN SCHEMA DB.SC",
        "SHOW JOB SERVICES IN SCHEMA DB.SC2",
    ]
    assert [s.sql for s in sql_log.matching(r"^DESCRIBE SERVICE ")] == [
        "DESCRIBE SERVICE DB.SC.JOB_3",
        "DESCRIBE SERVICE DB.SC.GONE",
    ]


def test_cancel_logs_and_drop(backend, get_job, sf_classes, sql_log):
    job = get_job.return_value = _ml_job(sf_classes, status="RUNNING")
    backend.cancel_job("DB.SC.JOB_1")
    job.cancel.assert_called_once_with()
    job.get_logs.return_value = "line 1\nline 2"
    assert backend.get_job_logs("DB.SC.JOB_1") == "line 1\nline 2"
    job.get_logs.side_effect = _sql_exception(2003)
    assert backend.get_job_logs("DB.SC.JOB_1") == ""
    backend.drop_job('DB.SC."job 1"')
    drop = sql_log.one("DROP SERVICE")
    assert drop.sql == 'DROP SERVICE IF EXISTS DB.SC."job 1"'


# -- results ------------------------------------------------------------------------------------

JOB_FOLDER = OUT.child("JOB_1")


def _copy_rows(*loaded: int) -> list[Any]:
    return [
        _row(file=f"f{i}.parquet", status="LOADED", rows_parsed=n, rows_loaded=n)
        for i, n in enumerate(loaded)
    ]


def _copy_options(tree: exp.Expression) -> dict[str, str]:
    return {
        p.this.name.upper() if isinstance(p.this, exp.Expression) else str(p.this).upper(): p.args[
            "value"
        ].sql(dialect="snowflake")
        if isinstance(p.args.get("value"), exp.Expression)
        else str(p.args.get("value"))
        for p in tree.args.get("params", [])
    }


FILES = ("data_0.parquet", "data_1.parquet")


def _load(**kwargs: Any) -> LoadResultsRequest:
    return LoadResultsRequest(
        **{"location": JOB_FOLDER, "target_table": TABLE, "mode": "append", "parquet_files": FILES, **kwargs}
    )


def _file_columns(sql_log: Any, *columns: tuple[str, str]) -> None:
    sql_log.answer(r"^SELECT COLUMN_NAME, TYPE", [_row(COLUMN_NAME=n, TYPE=t) for n, t in columns])


def test_append_copies_straight_into_the_table_with_load_history(backend, sql_log):
    sql_log.answer(r"^COPY INTO", _copy_rows(10, 5))
    _file_columns(sql_log, ("ID", "NUMBER(38, 0)"), ("OUTPUT_FEATURE_0", "REAL"))
    sql_log.answer(r"^SHOW COLUMNS", [_row(column_name="ID"), _row(column_name="OUTPUT_FEATURE_0")])
    rows = backend.load_results(_load())
    assert rows == 15
    assert _kinds(sql_log) == ["Create", "Create", "Select", "Show", "Copy"]
    fmt = sql_log.sent[0]
    assert fmt.sql == "CREATE FILE FORMAT IF NOT EXISTS DB.SC.AIRFLOW_SNOWFLAKE_BATCH_PARQUET TYPE = PARQUET"
    template = sql_log.sent[1].tree
    assert template.args["exists"] and template.this.sql(dialect="snowflake") == "DB.SC.SCORES"
    for tree in (template, sql_log.sent[2].tree):  # the template and the file columns read the same files
        infer = tree.find(exp.Anonymous)
        kwargs = {k.this.name.upper(): k.expression for k in infer.expressions}
        assert kwargs["LOCATION"].this == "@DB.SC.OUT/preds/JOB_1/"
        assert kwargs["FILE_FORMAT"].this == "DB.SC.AIRFLOW_SNOWFLAKE_BATCH_PARQUET"
    copy = sql_log.sent[4]
    assert copy.tree.this.sql(dialect="snowflake") == "DB.SC.SCORES"
    assert "FORCE = FALSE" in copy.sql and "MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE" in copy.sql
    assert "PATTERN = '.*[.]parquet'" in copy.sql


def test_file_columns_the_table_lacks_are_added_before_the_copy(backend, sql_log):
    _file_columns(sql_log, ("ID", "NUMBER(38, 0)"), ("OUTPUT_FEATURE_0", "REAL"), ("LABEL", "TEXT"))
    sql_log.answer(r"^SHOW COLUMNS", [_row(column_name="ID")])
    backend.load_results(_load(create_table_if_missing=False))
    assert [s.sql for s in sql_log.matching("^ALTER")] == [
        "ALTER TABLE DB.SC.SCORES ADD COLUMN IF NOT EXISTS OUTPUT_FEATURE_0 REAL",
        "ALTER TABLE DB.SC.SCORES ADD COLUMN IF NOT EXISTS LABEL TEXT",
    ]
    assert _kinds(sql_log)[-1] == "Copy"


def test_a_column_type_that_is_not_a_type_never_reaches_ddl(backend, sql_log):
    _file_columns(sql_log, ("X", "INT; DROP TABLE T"))
    with pytest.raises(ValueError, match="Unexpected column type"):
        backend.load_results(_load())
    assert not sql_log.matching("^ALTER|^COPY")


def test_second_append_of_the_same_job_loads_nothing(backend, sql_log):
    sql_log.answer(r"^COPY INTO", [_row(status="Copy executed with 0 files processed.")])
    assert backend.load_results(_load()) == 0


def test_partition_load_replaces_the_partition_atomically(backend, sql_log):
    """The one place the whole statement sequence of a partition load is pinned."""
    sql_log.answer(r"^COPY INTO", _copy_rows(7))
    _file_columns(sql_log, ("ID", "NUMBER(38, 0)"))
    sql_log.answer(r"^SHOW COLUMNS", [_row(column_name="ID")])
    rows = backend.load_results(
        _load(partition={"DS": "2024-01-01", "SHARD": 3}, create_table_if_missing=False)
    )
    assert rows == 7
    assert _kinds(sql_log) == [
        "Create",
        "Select",
        "Show",
        "Alter",
        "Alter",
        "Create",
        "Copy",
        "Update",
        "Transaction",
        "Delete",
        "Insert",
        "Commit",
        "Drop",
    ]
    assert [s.sql for s in sql_log.matching("^ALTER")] == [
        "ALTER TABLE DB.SC.SCORES ADD COLUMN IF NOT EXISTS DS VARCHAR",
        "ALTER TABLE DB.SC.SCORES ADD COLUMN IF NOT EXISTS SHARD NUMBER(38,0)",
    ]
    staging_create = sql_log.sent[5]
    staging = staging_create.tree.this.sql(dialect="snowflake")
    assert staging_create.sql == f"CREATE TEMPORARY TABLE {staging} LIKE DB.SC.SCORES"
    copy = sql_log.one("^COPY")
    assert copy.tree.this.sql(dialect="snowflake") == staging and "FORCE = TRUE" in copy.sql
    update = sql_log.one("^UPDATE")
    assert update.params == ["2024-01-01", 3]
    assert all(isinstance(e.expression, exp.Placeholder) for e in update.tree.expressions)
    delete = sql_log.one("^DELETE")
    assert delete.tree.this.sql(dialect="snowflake") == "DB.SC.SCORES"
    conditions = list(delete.tree.args["where"].find_all(exp.EQ))
    assert [c.this.name for c in conditions] == ["DS", "SHARD"]
    assert all(isinstance(c.expression, exp.Placeholder) for c in conditions)
    assert delete.params == ["2024-01-01", 3]
    insert = sql_log.one("^INSERT")
    assert insert.tree.this.sql(dialect="snowflake") == "DB.SC.SCORES"
    assert insert.tree.expression.find(exp.Table).sql(dialect="snowflake") == staging


def test_overwrite_load_deletes_every_row_in_the_transaction(backend, sql_log):
    sql_log.answer(r"^COPY INTO", _copy_rows(4))
    backend.load_results(_load(mode="overwrite"))
    delete = sql_log.one("^DELETE")
    assert delete.sql == "DELETE FROM DB.SC.SCORES" and not delete.params
    kinds = _kinds(sql_log)
    assert kinds.index("Transaction") < kinds.index("Delete") < kinds.index("Insert") < kinds.index("Commit")


def test_load_of_no_file_replaces_the_partition_with_nothing(backend, sql_log):
    sql_log.answer(r"^SHOW TABLES", [_row(name="SCORES")])
    assert backend.load_results(_load(partition={"DS": "2024-01-01"}, parquet_files=())) == 0
    assert _kinds(sql_log) == ["Show", "Transaction", "Delete", "Commit"]
    assert sql_log.one("^DELETE").params == ["2024-01-01"]


def test_load_of_no_file_into_a_missing_table_creates_nothing(backend, sql_log):
    assert backend.load_results(_load(mode="overwrite", parquet_files=())) == 0
    assert _kinds(sql_log) == ["Show"]


def test_list_files_at_the_stage_root(backend, sql_log):
    sql_log.answer(r"^LIST", [_row(name="out/JOB/_SUCCESS"), _row(name="out/a.parquet")])
    assert backend.list_files(StageLocation.parse("@DB.SC.OUT")) == ["JOB/_SUCCESS", "a.parquet"]
    assert sql_log.texts == ["LIST @DB.SC.OUT/"]


@pytest.mark.parametrize(
    ("described", "family"),
    [
        ("NUMBER(38,0)", "integer"),
        ("NUMBER(38,2)", "float"),
        ("FLOAT", "float"),
        ("VARCHAR(16777216)", "string"),
        ("BOOLEAN", "boolean"),
        ("BINARY(8388608)", "binary"),
        ("TIMESTAMP_NTZ(9)", "timestamp"),
        ("DATE", "timestamp"),
        ("VARIANT", "semi-structured"),
        ("ARRAY", "semi-structured"),
        ("OBJECT", "semi-structured"),
    ],
)
def test_describe_table_type_names_are_classified_too(described, family):
    assert sql_type_family(described) == family


def test_an_alias_is_resolved_once_per_hook_and_scoring_reuses_the_resolved_version(
    hook, backend, model_registry, new_dataframe, session, sql_log
):
    from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook

    ref = backend.get_model_version(MODEL, "PROD")
    assert backend.get_model_version(MODEL, "PROD") is ref
    # One Registry, one get_model and one version look-up for this hook, however often it is asked.
    model_registry.cls.assert_called_once_with(session, database_name="DB", schema_name="SC")
    model_registry.cls.return_value.get_model.assert_called_once_with("IRIS")
    model_registry.model.version.assert_called_once_with("PROD")
    model_registry.versions["V1"].show_functions.assert_called_once_with()
    assert ref.version == Identifier("V1")

    # Scoring runs the ModelVersion the alias resolved to, without resolving anything again.
    _scored(model_registry, new_dataframe, session)
    sql_log.answer(r"COUNT\(\*\)", [_row(c=1)])
    backend.run_warehouse_inference(_request(ref))
    model_registry.versions["V1"].run.assert_called_once()
    assert model_registry.model.version.call_count == 1

    # The alias moves to V2: this hook keeps V1 (one task scores with one version) ...
    model_registry.model.version.side_effect = lambda name: model_registry.versions["V2"]
    assert backend.get_model_version(MODEL, "PROD").version == Identifier("V1")
    # ... and the next task's hook resolves it anew, building its own Registry.
    next_hook = SnowflakeBatchInferenceHook(hook.snowflake_conn_id)
    try:
        assert next_hook.get_model_version("DB.SC.IRIS", "PROD").version == Identifier("V2")
    finally:
        next_hook.close()
    assert model_registry.model.version.call_count == 2
    assert model_registry.cls.call_count == 2
