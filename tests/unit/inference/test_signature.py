"""Input columns against a model signature (``inference.signature``), with plain value objects."""

from __future__ import annotations

import pytest

from airflow_snowflake_batch.backends.base import Column, Feature, ModelFunction, ModelVersionRef, Param
from airflow_snowflake_batch.exceptions import FunctionResolutionError, InputValidationError
from airflow_snowflake_batch.identifiers import Identifier, ObjectName
from airflow_snowflake_batch.inference.signature import (
    cannot_hold_null,
    check_nulls,
    check_output_columns,
    check_params,
    file_column,
    match_input_columns,
    resolve_function,
    sql_type_family,
)


def _function(
    *inputs: Feature, outputs: tuple[Feature, ...] = (), params: tuple[Param, ...] = ()
) -> ModelFunction:
    return ModelFunction("PREDICT", "predict", "FUNCTION", tuple(inputs), outputs, params)


def _match(
    function: ModelFunction, *columns: Column, strict: bool = False, **kwargs: object
) -> dict[str, str]:
    matched = match_input_columns(function, list(columns), strict=strict, where="input table T", **kwargs)  # type: ignore[arg-type]
    return {feature: column.name for feature, column in matched.items()}


@pytest.mark.parametrize(
    ("sql_type", "family"),
    [
        ("NUMBER(38,0)", "integer"),
        ("NUMBER(10,2)", "float"),
        ("BIGINT", "integer"),
        ("DOUBLE", "float"),
        ("VARCHAR(16777216)", "string"),
        ("BOOLEAN", "boolean"),
        ("BINARY", "binary"),
        ("TIMESTAMP_NTZ(9)", "timestamp"),
        ("VARIANT", "semi-structured"),
        ("INTEGER[]", "semi-structured"),  # a DuckDB list: its element type must not decide
        ("GEOGRAPHY", "unknown"),
    ],
)
def test_sql_type_family(sql_type: str, family: str) -> None:
    assert sql_type_family(sql_type) == family


def test_functions_resolve_by_sql_name_or_method_or_as_the_only_one() -> None:
    predict, proba = _function(), ModelFunction("PREDICT_PROBA", "predict_proba", "FUNCTION", (), ())
    model = ModelVersionRef(ObjectName.parse("DB.SC.M"), Identifier("V1"), (predict, proba))
    assert resolve_function(model, "predict_proba") is proba
    assert resolve_function(model, '"PREDICT"') is predict
    assert resolve_function(ModelVersionRef(model.model, model.version, (predict,)), None) is predict
    with pytest.raises(
        FunctionResolutionError, match="has 2 functions \\(PREDICT, PREDICT_PROBA\\); pass function_name"
    ):
        resolve_function(model, None)
    with pytest.raises(
        FunctionResolutionError, match="no function 'explain'. Available functions: PREDICT, PREDICT_PROBA"
    ):
        resolve_function(model, "explain")


def test_features_match_all_by_exact_name_or_all_by_normalized_name_never_a_mix() -> None:
    function = _function(Feature("a", "DOUBLE"), Feature("b", "DOUBLE"))
    assert _match(function, Column("a", "FLOAT"), Column("b", "FLOAT")) == {"a": "a", "b": "b"}
    assert _match(function, Column("A", "FLOAT"), Column("B", "FLOAT")) == {"a": "A", "b": "B"}
    with pytest.raises(
        InputValidationError,
        match="By exact name: missing column 'b'.*By normalized name: missing column 'A'",
    ):
        _match(function, Column("a", "FLOAT"), Column("B", "FLOAT"))


def test_types_cast_as_snowflake_casts_them_and_strict_refuses_float_for_integer() -> None:
    ints = _function(Feature("X", "INT64"))
    assert _match(ints, Column("X", "DOUBLE")) == {"X": "X"}
    with pytest.raises(
        InputValidationError, match="column 'X' has type DOUBLE, but feature 'X' expects INT64"
    ):
        _match(ints, Column("X", "DOUBLE"), strict=True)
    assert _match(_function(Feature("X", "DOUBLE")), Column("X", "NUMBER(38,0)"), strict=True) == {"X": "X"}
    with pytest.raises(InputValidationError, match="expects DOUBLE"):
        _match(_function(Feature("X", "DOUBLE")), Column("X", "VARCHAR"))


def test_json_text_feeds_structured_features_only_in_batch_jobs() -> None:
    chat = _function(Feature("MESSAGES", "OBJECT"))
    with pytest.raises(InputValidationError, match="JSON text is parsed by batch jobs only"):
        _match(chat, Column("MESSAGES", "VARCHAR"))
    assert _match(chat, Column("MESSAGES", "VARCHAR"), json_text=True) == {"MESSAGES": "MESSAGES"}


def test_a_converted_column_counts_as_its_converted_type() -> None:
    image = _function(Feature("IMAGE", "BYTES"))
    assert _match(image, Column("IMAGE", "VARCHAR"), converted={"image": "BYTES"}) == {"IMAGE": "IMAGE"}
    with pytest.raises(InputValidationError, match="expects BYTES"):
        _match(image, Column("IMAGE", "VARCHAR"))


def test_outputs_and_partition_columns_must_not_replace_input_columns() -> None:
    function = _function(Feature("X", "DOUBLE"), outputs=(Feature("output_feature_0", "DOUBLE"),))
    check_output_columns(function, [Column("X", "FLOAT"), Column("ID", "NUMBER(38,0)")], {"DS": 1}, where="t")
    with pytest.raises(
        InputValidationError,
        match="model output 'output_feature_0' would replace input column 'OUTPUT_FEATURE_0'",
    ):
        check_output_columns(function, [Column("OUTPUT_FEATURE_0", "FLOAT")], {}, where="t")
    with pytest.raises(
        InputValidationError, match="output_partition column 'id' would replace input column 'ID'"
    ):
        check_output_columns(function, [Column("ID", "FLOAT")], {"id": 1}, where="t")


def test_only_non_nullable_scalar_integers_and_booleans_cannot_hold_null() -> None:
    assert cannot_hold_null(Feature("X", "INT64", nullable=False))
    assert cannot_hold_null(Feature("X", "BOOL", nullable=False))
    assert not cannot_hold_null(Feature("X", "INT64", nullable=True))
    assert not cannot_hold_null(Feature("X", "DOUBLE", nullable=False))  # NaN holds a NULL
    assert not cannot_hold_null(Feature("X", "INT64", nullable=False, shape=(3,)))


def test_nulls_in_a_column_feeding_a_non_nullable_feature_are_refused_with_their_count() -> None:
    function = _function(Feature("X", "INT64", nullable=False))
    matched = {"X": Column("X", "NUMBER(38,0)")}
    check_nulls(function, matched, {"X": 0}, where="t")
    with pytest.raises(InputValidationError, match="column 'X' has 4 NULL value\\(s\\).*COALESCE"):
        check_nulls(function, matched, {"X": 4}, where="t")


def test_params_must_be_declared_and_fit_their_spec() -> None:
    temperature = Param(
        "temperature", "FLOAT", 0.5, {"name": "temperature", "dtype": "FLOAT", "default_value": 0.5}
    )
    function = _function(params=(temperature,))
    check_params(function, {"TEMPERATURE": 0.1})
    with pytest.raises(InputValidationError, match=r"Unknown params \['top_k'\].*declares: temperature"):
        check_params(function, {"top_k": 1})
    with pytest.raises(
        InputValidationError,
        match=r"params\['temperature'\] = 'hot' does not fit parameter temperature \(FLOAT\)",
    ):
        check_params(function, {"temperature": "hot"})


def test_the_file_feature_is_the_named_one_or_the_only_bytes_or_string_input() -> None:
    image = Feature("IMAGE", "BYTES")
    function = _function(image, Feature("SCALE", "DOUBLE"))
    assert file_column(function, None, where="files") is image
    assert file_column(function, "IMAGE", where="files") is image  # compared as a stored column name
    with pytest.raises(
        InputValidationError, match="file_column 'SCALE' feeds feature 'SCALE' of type DOUBLE"
    ):
        file_column(function, "SCALE", where="files")
    with pytest.raises(InputValidationError, match="file_column 'nope' is not an input"):
        file_column(function, "nope", where="files")
    with pytest.raises(InputValidationError, match="has 2 BYTES or STRING inputs.*Pass file_column"):
        file_column(_function(image, Feature("TEXT", "STRING")), None, where="files")
