"""What an input may be (``inference.inputs``): one input, a read-only query, file names."""

from __future__ import annotations

import pytest

from airflow_snowflake_batch.backends.base import Column, Feature, ModelFunction
from airflow_snowflake_batch.exceptions import InputValidationError
from airflow_snowflake_batch.identifiers import StageLocation
from airflow_snowflake_batch.inference.inputs import (
    check_columns,
    check_input_query,
    file_pattern,
    matching_files,
    one_input,
    require_parquet,
)

FOLDER = StageLocation.parse("@DB.SC.MEDIA/img/")


def test_exactly_one_input() -> None:
    assert one_input(input_table=None, input_query="SELECT 1") == "input_query"
    with pytest.raises(
        InputValidationError, match="Exactly one of input_table, input_query must be set; got none"
    ):
        one_input(input_table=None, input_query="")
    with pytest.raises(InputValidationError, match="got input_table, input_query"):
        one_input(input_table="T", input_query="SELECT 1")


@pytest.mark.parametrize(
    "query",
    [
        "SELECT 1; DROP TABLE T",
        "DELETE FROM T",
        "CREATE TABLE X AS SELECT 1",
        "CALL proc()",
        "SELECT * FROM T; SELECT 2",
    ],
)
def test_input_query_must_be_one_read_only_query(query: str) -> None:
    with pytest.raises(InputValidationError, match="input_query"):
        check_input_query(query)


def test_a_read_only_query_passes_without_its_trailing_semicolon() -> None:
    assert (
        check_input_query("  WITH a AS (SELECT 1 AS X) SELECT * FROM a; ")
        == "WITH a AS (SELECT 1 AS X) SELECT * FROM a"
    )


def test_file_pattern_is_a_regular_expression() -> None:
    assert file_pattern(None) is None and file_pattern("") is None
    assert file_pattern(r".*\.png") == r".*\.png"
    with pytest.raises(InputValidationError, match="file_pattern '\\(' is not a valid regular expression"):
        file_pattern("(")


def test_matching_files_are_full_paths_and_a_bad_name_or_no_match_is_refused() -> None:
    assert matching_files(FOLDER, ["a.png", "sub/b.png", "c.txt"], r".*\.png") == (
        "@DB.SC.MEDIA/img/a.png",
        "@DB.SC.MEDIA/img/sub/b.png",
    )
    assert matching_files(FOLDER, ["c.txt"], None) == ("@DB.SC.MEDIA/img/c.txt",)
    with pytest.raises(
        InputValidationError,
        match=r"holds no file matching file_pattern '.\*\\\\.jpg' \(2 file\(s\) in total\)",
    ):
        matching_files(FOLDER, ["a.png", "c.txt"], r".*\.jpg")
    with pytest.raises(
        InputValidationError, match="has a name batch jobs cannot take.*exclude it with file_pattern"
    ):
        matching_files(FOLDER, ["a b.png"], None)


def test_a_stage_location_must_hold_parquet() -> None:
    require_parquet(FOLDER, ["part-0.PARQUET"])
    with pytest.raises(InputValidationError, match="holds no Parquet files \\(it is empty\\)"):
        require_parquet(FOLDER, [])
    with pytest.raises(InputValidationError, match="use input_files='@DB.SC.MEDIA/img/'"):
        require_parquet(FOLDER, ["a.png"])


def test_check_columns_returns_the_handling_the_match_and_the_columns_whose_nulls_need_counting() -> None:
    function = ModelFunction(
        "PREDICT",
        "predict",
        "FUNCTION",
        (
            Feature("N", "INT64", nullable=False),
            Feature("X", "DOUBLE", nullable=False),
            Feature("IMG", "BYTES"),
        ),
        (),
    )
    columns = [Column("N", "NUMBER(38,0)"), Column("X", "FLOAT"), Column("IMG", "VARCHAR")]
    handling = {"img": {"input_format": "full_stage_path", "convert_to": "raw_bytes"}}
    checked = check_columns(
        function, columns, handling, strict=False, partition={}, where="t", json_text=False
    )
    assert checked.handling == {"IMG": {"input_format": "full_stage_path", "convert_to": "raw_bytes"}}
    assert {k: c.name for k, c in checked.matched.items()} == {"N": "N", "X": "X", "IMG": "IMG"}
    assert checked.nullable_columns == ["N"]  # a DOUBLE holds NULL as NaN
    with pytest.raises(InputValidationError, match="output_partition column 'n' would replace"):
        check_columns(
            function, columns, handling, strict=False, partition={"n": 1}, where="t", json_text=False
        )


def test_a_deeply_nested_query_is_refused_naming_input_query_not_a_recursion_error() -> None:
    query = "SELECT X FROM " + "(SELECT X FROM " * 400 + "ML.PUBLIC.T" + ")" * 400
    with pytest.raises(InputValidationError, match="input_query is nested too deeply"):
        check_input_query(query)
