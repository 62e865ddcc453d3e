"""What a load or write replaces, and when a folder's results may be loaded (``inference.results``)."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_snowflake_batch.exceptions import (
    InputValidationError,
    InvalidIdentifierError,
    ResultsNotReadyError,
)
from airflow_snowflake_batch.identifiers import StageLocation
from airflow_snowflake_batch.inference.results import (
    MAP_INDEX_COLUMN,
    check_output_location_given,
    check_success,
    parquet_files,
    parse_partition,
    replace_key,
)

FOLDER = StageLocation.parse("@DB.SC.OUT/preds/JOB/")


@pytest.mark.parametrize(
    ("partition", "mode", "map_index", "expected"),
    [
        ({"DS": "d"}, "append", None, {"DS": "d"}),  # not mapped
        ({"DS": "d"}, "append", -1, {"DS": "d"}),  # -1: not mapped either
        ({}, "append", 3, {}),  # a mapped append replaces nothing
        ({}, "overwrite", 3, {MAP_INDEX_COLUMN: 3}),  # a mapped overwrite replaces its own shard
        ({"DS": "d"}, "append", 0, {"DS": "d", MAP_INDEX_COLUMN: 0}),  # partition: replaced whatever the mode
    ],
)
def test_replace_key(
    partition: dict[str, Any], mode: Any, map_index: int | None, expected: dict[str, Any]
) -> None:
    assert replace_key(partition, mode, map_index) == expected


def test_a_partition_naming_the_map_index_column_is_refused_for_a_mapped_task() -> None:
    with pytest.raises(InputValidationError, match=MAP_INDEX_COLUMN):
        replace_key({MAP_INDEX_COLUMN: 1}, "overwrite", 2)
    assert replace_key({MAP_INDEX_COLUMN: 1}, "overwrite", None) == {MAP_INDEX_COLUMN: 1}


def test_partition_columns_become_stored_names_and_values_must_be_scalars() -> None:
    assert parse_partition({"ds": "x", '"Mixed"': 1, "flag": True}) == {"DS": "x", "Mixed": 1, "FLAG": True}
    assert parse_partition(None) == {}
    with pytest.raises(
        InputValidationError, match="value for 'ds' must be a string, number or boolean, got list"
    ):
        parse_partition({"ds": [1]})  # type: ignore[dict-item]
    with pytest.raises(InvalidIdentifierError, match="output_partition column"):
        parse_partition({"a; DROP": 1})


@pytest.mark.parametrize("value", [None, "", "  ", "None"])
def test_a_missing_output_location_says_the_upstream_task_produced_none(value: str | None) -> None:
    with pytest.raises(ResultsNotReadyError, match="produced no results.*Clear and re-run"):
        check_output_location_given(value)


def test_a_given_output_location_passes_through() -> None:
    assert check_output_location_given("@DB.SC.OUT/x/") == "@DB.SC.OUT/x/"


def test_a_folder_without_success_is_refused_unless_partial_results_are_asked_for() -> None:
    with pytest.raises(ResultsNotReadyError, match=r"@DB.SC.OUT/preds/JOB/ has no _SUCCESS file"):
        check_success(FOLDER, ["data_0.parquet"], require_success=True)
    check_success(FOLDER, ["data_0.parquet"], require_success=False)
    check_success(FOLDER, ["_SUCCESS"], require_success=True)


def test_only_parquet_files_are_loaded() -> None:
    assert parquet_files(["_SUCCESS", "a.parquet", "logs/x.txt", "p/b.parquet"]) == (
        "a.parquet",
        "p/b.parquet",
    )


def test_written_columns_match_the_table_case_insensitively_and_keep_its_spelling():
    from airflow_snowflake_batch.inference.results import match_columns

    assert match_columns("DB.SC.T", ["ID", "score", "Note"], ["ID", "SCORE", "NOTE", "DS"]) == {
        "ID": "ID",
        "SCORE": "score",
        "NOTE": "Note",
        "DS": None,
    }


def test_a_table_with_two_case_variants_of_a_written_column_is_refused():
    from airflow_snowflake_batch.exceptions import InputValidationError
    from airflow_snowflake_batch.inference.results import match_columns

    with pytest.raises(
        InputValidationError,
        match=r'DB.SC.T has 2 columns named .SCORE. in different case \("score", SCORE\)',
    ):
        match_columns("DB.SC.T", ["ID", "score", "SCORE"], ["ID", "SCORE"])
    # A column the write does not name may have twins: it is not written.
    assert match_columns("DB.SC.T", ["a", "A"], ["ID"]) == {"ID": None}
