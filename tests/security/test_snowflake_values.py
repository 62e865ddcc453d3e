"""Hostile names and values on the Snowflake path: a clean error before anything runs, or SQL that keeps them.

The real hook and ``SnowflakeBackend`` run over the unit tests' doubles (only Snowpark/snowflake-ml
are doubled; every statement sent is recorded and parsed by sqlglot). For batch jobs the statement
snowflake-ml would send is rebuilt with snowflake-ml's own code (``build_inference_job_service_yaml``,
``build_execute_inference_job_service_sql``) from the arguments ``run_batch`` received, and its
``WITH SPECIFICATION`` literal is decoded with Snowflake's escape rules (sqlglot's tokenizer) and
compared with the YAML.
"""

from __future__ import annotations

import itertools
from typing import Any
from unittest import mock

import pytest
import sqlglot
import yaml
from hypothesis import given
from hypothesis import strategies as st
from snowflake_doubles import predict_function, route_job_statements
from sqlglot import exp
from sqlglot.dialects.snowflake import Snowflake
from sqlglot.tokens import TokenType
from strategies import hostile_name, hostile_text, quoted

from airflow_snowflake_batch.exceptions import SnowflakeBatchInferenceError
from airflow_snowflake_batch.identifiers import Identifier, ObjectName, StageLocation
from airflow_snowflake_batch.inference import spec_safety

_names = (f"JOB_{n}" for n in itertools.count())


def _row(**values: Any) -> Any:
    from snowflake.snowpark import Row

    return Row(**values)


def _schema(**types: Any) -> Any:
    from snowflake.snowpark.types import StructField, StructType

    return StructType([StructField(name, dtype) for name, dtype in types.items()])


@pytest.fixture(autouse=True)
def one_result_double(sql_log: Any, new_dataframe: Any) -> None:
    """Every statement answers through one DataFrame double: autospeccing one per statement takes
    most of a second, and the backend collects each statement's rows before sending the next."""
    shared = new_dataframe()
    sql_log.dataframe_factory = lambda: shared


@pytest.fixture
def model(model_registry: Any) -> Any:
    """DB.SC.IRIS V1: ``predict`` with a string param ``prompt``, over an input table with an IMAGE column."""
    from snowflake.ml.model import model_signature as ms

    mv = model_registry.versions["V1"]
    mv.show_functions.return_value = [
        predict_function(params=[ms.ParamSpec("prompt", ms.DataType.STRING, "hi")])
    ]
    return mv


@pytest.fixture
def ready(hook: Any, model: Any, session: Any, new_dataframe: Any, sql_log: Any, sf_classes: Any) -> Any:
    """Every stage exists (SSE), no job exists yet, and ``run_batch`` returns a job that is PENDING."""
    from snowflake.snowpark import types as t

    columns = _schema(SEPAL_LENGTH=t.DoubleType(), SPECIES_CODE=t.LongType(), IMAGE=t.StringType())
    session.table.return_value = new_dataframe(columns)

    def show_stages(text: str, _: Any) -> list[Any]:
        # The stage named in the LIKE literal exists: answer with its name as stored.
        name = next(t.text for t in Snowflake().tokenize(text) if t.token_type is TokenType.STRING)
        return [_row(name=name, type="INTERNAL NO CSE")]

    sql_log.answer("^SHOW STAGES", show_stages)
    submitted: set[str] = set()

    def get_job(job_id: str) -> Any:
        from snowflake.snowpark.exceptions import SnowparkSQLException

        if job_id not in submitted:
            raise SnowparkSQLException("does not exist", sql_error_code=2003)
        job = mock.create_autospec(sf_classes.MLJob, instance=True, spec_set=True)
        job.id, job.status = job_id, "PENDING"
        return job

    def run_batch(*_: Any, job_name: str, **__: Any) -> Any:
        submitted.add(job_name)
        return get_job(job_name)

    model.run_batch.side_effect = run_batch
    with route_job_statements(sql_log, get_job):
        yield model


def _submit(hook: Any, **overrides: Any) -> Any:
    options: dict[str, Any] = {
        "model_name": "iris",
        "version_name": None,
        "function_name": "predict",
        "source": hook.input_source(input_table="features"),
        "compute_pool": "pool",
        "output_stage_location": "@out/preds",
        "job_name": next(_names),
    }
    options.update(overrides)
    return hook.start_batch_job(hook.build_batch_job_spec(**options))


def _specification_statement(kwargs: dict[str, Any]) -> tuple[str, str]:
    """The YAML and the EXECUTE statement snowflake-ml builds from ``run_batch``'s arguments."""
    from snowflake.ml._internal.utils.sql_identifier import SqlIdentifier
    from snowflake.ml.model._client.ops import service_ops
    from snowflake.ml.model._client.service.inference_job_service_spec import _InternalInputSpec
    from snowflake.ml.model._client.sql.service import build_execute_inference_job_service_sql

    body = service_ops.build_inference_job_service_yaml(
        input_spec=_InternalInputSpec.from_input_spec(kwargs["input_spec"]),
        output_spec=service_ops.normalize_output_stage_location(kwargs["output_spec"]),
        resources_spec=kwargs["resources_spec"],
        inference_spec=kwargs["inference_spec"],
        image_build_spec=kwargs["image_build_spec"],
    )
    statement = build_execute_inference_job_service_sql(
        yaml_body=body,
        compute_pool_name=SqlIdentifier(kwargs["compute_pool"]),
        model_fqn="DB.SC.IRIS",
        version=SqlIdentifier("V1"),
        function_name="predict",
        job_fqn=kwargs["job_name"],
        async_=True,
        replicas=None,
        from_source="@DB.SC.OUT/preds/_snowflake_temporary/x/",
    )
    return body, statement


def decoded_specification(statement: str) -> str:
    """The ``WITH SPECIFICATION`` literal as Snowflake reads it; fails unless it ends where it should."""
    rest = statement.split("WITH SPECIFICATION ", 1)[1]
    tokens = Snowflake().tokenize("SELECT " + rest)
    assert tokens[1].token_type is TokenType.STRING, tokens[:3]
    # The literal is followed by the next clause, not by text that escaped it.
    assert tokens[2].token_type is TokenType.FROM, f"the specification literal ended early: {tokens[2:6]}"
    return tokens[1].text


def _spec_case(field: str, value: str) -> dict[str, Any]:
    """Build-spec arguments placing ``value`` in ``field``."""
    handling = {"input_format": "full_stage_path", "convert_to": "base64"}
    return {
        "params": {"params": {"prompt": value}},
        "column_handling key": {"column_handling": {value: handling}},
        "cpu": {"cpu_requests": value},
        "memory": {"memory_requests": value},
        "gpu": {"gpu_requests": value},
        "image_repo": {"image_repo": quoted(value)},
        "engine_args_override": {"engine": "vllm", "engine_args_override": ("--x", value)},
        "output stage": {"output_stage_location": f"@{quoted(value)}/preds"},
    }[field]


SPEC_FIELDS = [
    "params",
    "column_handling key",
    "cpu",
    "memory",
    "gpu",
    "image_repo",
    "engine_args_override",
    "output stage",
]

# The issue's probe values: a backslash before a quote ended the literal early; a backslash vanished.
BREAKOUT = "x\\'; DROP TABLE T; --"


@pytest.mark.parametrize("field", SPEC_FIELDS)
def test_the_issue_breakout_value_is_refused_before_submit(hook: Any, ready: Any, field: str) -> None:
    for value in (BREAKOUT, "x\\y"):
        with pytest.raises(SnowflakeBatchInferenceError) as raised:
            _submit(hook, **_spec_case(field, value))
        argument = field.split()[0].replace("cpu", "resources").replace("memory", "resources")
        argument = argument.replace("gpu", "resources").replace("output", "output_stage_location")
        assert argument in str(raised.value)
    ready.run_batch.assert_not_called()


@given(field=st.sampled_from(SPEC_FIELDS), value=hostile_text)
def test_spec_values_are_refused_or_reach_the_yaml_exactly(
    hook: Any, ready: Any, field: str, value: str
) -> None:
    ready.run_batch.reset_mock()
    try:
        _submit(hook, **_spec_case(field, value))
    except SnowflakeBatchInferenceError as exc:
        assert str(exc)
        ready.run_batch.assert_not_called()
        return
    (kwargs,) = [c.kwargs for c in ready.run_batch.call_args_list]
    body, statement = _specification_statement(kwargs)
    assert decoded_specification(statement) == body
    assert _field_in(yaml.safe_load(body), field) == _expected(field, value)


def _field_in(document: dict[str, Any], field: str) -> Any:
    return {
        "params": lambda: document["input"]["params"]["prompt"],
        "column_handling key": lambda: next(iter(document["input"]["column_handling"])),
        "cpu": lambda: document["resources"]["cpu_requests"],
        "memory": lambda: document["resources"]["memory_requests"],
        "gpu": lambda: str(document["resources"]["gpu_requests"]),
        "image_repo": lambda: document["image_build"]["image_repo"],
        "engine_args_override": lambda: document["inference"]["engine_options"]["engine_args_override"][1],
        "output stage": lambda: document["output"]["stage_location"],
    }[field]()


def _expected(field: str, value: str) -> str:
    if field == "image_repo":
        return ObjectName.parse(quoted(value)).sql
    if field == "output stage":
        return StageLocation.parse(f"@{quoted(value)}/preds").qualify("DB", "SC").sql
    return value


def test_a_quote_in_a_param_reaches_the_yaml_intact(hook: Any, ready: Any) -> None:
    """Accepted values are not mangled: a single quote survives the literal (snowflake-ml escapes it)."""
    _submit(hook, params={"prompt": "it's 50% -- fine; really"})
    body, statement = _specification_statement(ready.run_batch.call_args.kwargs)
    assert decoded_specification(statement) == body
    assert yaml.safe_load(body)["input"]["params"] == {"prompt": "it's 50% -- fine; really"}


@given(
    value=st.one_of(
        hostile_text,
        st.lists(hostile_text, max_size=3),
        st.dictionaries(hostile_text, hostile_text, max_size=2),
    )
)
def test_warehouse_params_are_refused_or_stay_one_sql_literal(value: Any) -> None:
    """``format_param_value_for_sql`` (snowflake-ml) of an accepted value parses back to that value."""
    from snowflake.ml.model._client.ops.param_utils import format_param_value_for_sql

    try:
        spec_safety.check_param_values({"prompt": value})
    except SnowflakeBatchInferenceError as exc:
        assert "params" in str(exc)
        return
    statements = sqlglot.parse(f"SELECT {format_param_value_for_sql(value)} AS P", read="snowflake")
    assert len(statements) == 1 and isinstance(statements[0], exp.Select)
    (projection,) = statements[0].expressions
    if isinstance(value, str):
        assert projection.this == exp.Literal.string(value)
    else:
        literals = [lit.this for lit in projection.find_all(exp.Literal) if lit.is_string]
        expected = value if isinstance(value, list) else [s for kv in value.items() for s in kv]
        assert literals == expected


# -- names in the SQL the backend sends itself ---------------------------------------------------


def _statement_kinds(texts: list[str]) -> list[str]:
    kinds = []
    for text in texts:
        statements = sqlglot.parse(text, read="snowflake")
        assert len(statements) == 1, f"{text!r} holds {len(statements)} statements"
        kinds.append(type(statements[0]).__name__)
    return kinds


def _load(hook: Any, sql_log: Any, stage: str, table: str) -> list[str]:
    sent = len(sql_log.sent)
    sql_log.answer("^LIST", [_row(name="out/preds/JOB/_SUCCESS"), _row(name="out/preds/JOB/data_0.parquet")])
    sql_log.answer("^SHOW TABLES", [])
    sql_log.answer("^COPY INTO", [_row(file="x", status="LOADED", rows_loaded=3)])
    hook.load_results(output_location=f"@{stage}/preds/JOB/", target_table=table)
    return [s.sql for s in sql_log.sent[sent:]]


@given(stage=hostile_name, table=hostile_name)
def test_hostile_names_in_load_results_stay_identifiers(
    hook: Any, sql_log: Any, stage: str, table: str
) -> None:
    if not hasattr(sql_log, "benign"):  # once per test, not per example
        sql_log.benign = _statement_kinds(_load(hook, sql_log, "OUT", "SCORES"))
    benign = sql_log.benign
    try:
        sent = _load(hook, sql_log, stage, table)
    except SnowflakeBatchInferenceError as exc:
        assert str(exc)
        return
    assert _statement_kinds(sent) == benign
    stored = ObjectName.parse(table).qualify("DB", "SC").name.value
    copy = sqlglot.parse_one(sent[-1], read="snowflake")
    assert stored in {i.this for i in copy.find_all(exp.Identifier)}


@given(table=hostile_name, column=hostile_text)
def test_hostile_names_in_warehouse_inference_stay_identifiers(
    hook: Any, model: Any, session: Any, new_dataframe: Any, sql_log: Any, table: str, column: str
) -> None:
    from snowflake.snowpark import types as t

    if not hasattr(sql_log, "benign"):  # once per test, not per example: the doubles are slow to build
        session.table.return_value = new_dataframe(
            _schema(SEPAL_LENGTH=t.DoubleType(), SPECIES_CODE=t.LongType())
        )
        model.run.return_value = new_dataframe(
            _schema(SEPAL_LENGTH=t.DoubleType(), SPECIES_CODE=t.LongType(), OUTPUT_FEATURE_0=t.DoubleType())
        )
        sql_log.answer(r"^SELECT COUNT\(\*\)", [_row(**{"COUNT(*)": 1})])

    def run(name: str, partition: dict[str, Any]) -> list[str]:
        sent = len(sql_log.sent)
        hook.run_warehouse_inference(
            model_name="iris",
            version_name=None,
            function_name="predict",
            source=hook.input_source(input_table="features"),
            output_table=name,
            output_partition=partition,
        )
        return [s.sql for s in sql_log.sent[sent:]]

    if not hasattr(sql_log, "benign"):
        sql_log.benign = _statement_kinds(run("SCORES", {"DS": "2024-01-01"}))
    benign = sql_log.benign
    try:
        sent = run(table, {quoted(column): column})
    except SnowflakeBatchInferenceError as exc:
        assert str(exc)
        return
    assert _statement_kinds(sent) == benign
    delete = next(
        s
        for s in sql_log.sent[-len(sent) :]
        if s.sql.startswith("DELETE") and "AIRFLOW_SCORING_RUNS" not in s.sql
    )
    assert delete.params == [column]  # the value travels as a bind variable, never as SQL text
    assert Identifier.parse(quoted(column)).value in {i.this for i in delete.tree.find_all(exp.Identifier)}
