"""What ``column_handling`` means for file inputs (``inference.column_handling``)."""

from __future__ import annotations

import pytest

from airflow_snowflake_batch.backends.base import Column, Feature, FileInput, ModelFunction
from airflow_snowflake_batch.exceptions import InputValidationError
from airflow_snowflake_batch.identifiers import StageLocation
from airflow_snowflake_batch.inference.column_handling import (
    check_column_handling,
    file_source,
    handling_value,
)

IMAGE = ModelFunction("PREDICT", "predict", "FUNCTION", (Feature("IMAGE", "BYTES"),), ())
TEXT = ModelFunction("PREDICT", "predict", "FUNCTION", (Feature("DOC", "STRING"),), ())
PATHS = [Column("IMAGE", "VARCHAR")]


def test_handling_is_normalized_to_lower_case_values_under_the_stored_column_name() -> None:
    handling = {"image": {"Input_Format": "FULL_STAGE_PATH", "CONVERT_TO": " Raw_Bytes "}}
    assert check_column_handling(IMAGE, PATHS, handling, where="t") == {
        "IMAGE": {"input_format": "full_stage_path", "convert_to": "raw_bytes"}
    }


def test_every_problem_is_listed_in_one_error() -> None:
    handling = {
        "IMAGE": {"input_format": "url", "convert_to": "hex"},
        "MISSING": {"input_format": "full_stage_path", "convert_to": "base64"},
        "BAD": "raw_bytes",
        "KEYS": {"convert_to": "base64", "extra": 1},
    }
    with pytest.raises(InputValidationError) as caught:
        check_column_handling(IMAGE, PATHS, handling, where="input table T")
    message = str(caught.value)
    for part in (
        "unknown input_format 'url'",
        "unknown convert_to 'hex'",
        "'MISSING': the input has no such column",
        "'BAD': expected a mapping",
        "unknown ['extra']; missing ['input_format']",
    ):
        assert part in message


def test_paths_must_be_text_and_the_encoding_must_fit_the_feature() -> None:
    numbers = [Column("IMAGE", "NUMBER(38,0)")]
    with pytest.raises(InputValidationError, match="full stage paths are text"):
        check_column_handling(
            IMAGE,
            numbers,
            {"IMAGE": {"input_format": "full_stage_path", "convert_to": "raw_bytes"}},
            where="t",
        )
    with pytest.raises(
        InputValidationError,
        match="gives STRING, but feature 'IMAGE' expects BYTES \\(use convert_to 'raw_bytes'\\)",
    ):
        check_column_handling(
            IMAGE, PATHS, {"IMAGE": {"input_format": "full_stage_path", "convert_to": "base64"}}, where="t"
        )


def test_without_columns_each_key_is_taken_as_the_column() -> None:
    handling = {"IMAGE": {"input_format": "full_stage_path", "convert_to": "raw_bytes"}}
    assert check_column_handling(IMAGE, None, handling, where="parquet") == handling


def test_handling_value_reads_a_key_in_any_case() -> None:
    assert handling_value({"Convert_To": "base64"}, "convert_to") == "base64"


def test_a_folder_of_files_feeds_the_file_feature_with_the_encoding_its_type_takes() -> None:
    files = FileInput(location=StageLocation.parse("@DB.SC.MEDIA/img/"))
    source, handling = file_source(IMAGE, files, {})
    assert source.files is not None and source.files.column == "IMAGE"
    assert handling == {"IMAGE": {"input_format": "full_stage_path", "convert_to": "raw_bytes"}}
    assert file_source(TEXT, files, {})[1] == {
        "DOC": {"input_format": "full_stage_path", "convert_to": "base64"}
    }
    given = {"doc": {"input_format": "full_stage_path", "convert_to": "base64_data_url"}}
    assert file_source(TEXT, files, given)[1] == given  # column_handling already says how


def test_one_column_named_twice_in_different_case_is_refused() -> None:
    """Keys match columns whatever their case: {"image": ..., "IMAGE": ...} named one column twice and
    the last entry silently won (issue 19 item 9)."""
    handling = {
        "image": {"input_format": "full_stage_path", "convert_to": "raw_bytes"},
        "IMAGE": {"input_format": "full_stage_path", "convert_to": "base64"},
    }
    with pytest.raises(InputValidationError, match=r"\['image', 'IMAGE'\] name one column in different case"):
        check_column_handling(IMAGE, PATHS, handling, where="t")
    with pytest.raises(InputValidationError, match="name one column in different case"):
        check_column_handling(IMAGE, None, handling, where="t")
