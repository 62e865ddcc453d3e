"""``input_query`` is exactly one read-only query on both backends, checked before anything runs.

The local cases run on a real workspace with a canary table; DuckDB file access outside the workspace
is refused even for a query that passes the parser (``read_text``), so nothing is read or written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_snowflake_batch.exceptions import InputValidationError
from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook
from airflow_snowflake_batch.local import LocalWorkspace

STACKED = [
    "SELECT * FROM ML.PUBLIC.INPUT; DROP TABLE ML.PUBLIC.CANARY",
    "SELECT * FROM ML.PUBLIC.INPUT; DELETE FROM ML.PUBLIC.CANARY",
    "DELETE FROM ML.PUBLIC.CANARY",
    "DROP TABLE ML.PUBLIC.CANARY",
    "INSERT INTO ML.PUBLIC.CANARY SELECT * FROM ML.PUBLIC.CANARY",
    "UPDATE ML.PUBLIC.CANARY SET ID = 0",
    "COPY (SELECT * FROM ML.PUBLIC.INPUT) TO '{outside}/copied.csv'",
    "CREATE TABLE ML.PUBLIC.NEW AS SELECT 1 AS A",
    "SELECT 1 AS A INTO ML.PUBLIC.NEW",
    "WITH x AS (DELETE FROM ML.PUBLIC.CANARY RETURNING *) SELECT * FROM x",
    "CALL SYSTEM$WAIT(1)",
    "USE SCHEMA ML.OTHER",
    "",
    ";",
]
READ_ONLY = [
    "SELECT * FROM ML.PUBLIC.INPUT",
    "SELECT * FROM ML.PUBLIC.INPUT;",
    "WITH recent AS (SELECT * FROM ML.PUBLIC.INPUT WHERE ID < 10) SELECT * FROM recent",
    "SELECT * FROM ML.PUBLIC.INPUT WHERE ID < 5 UNION ALL SELECT * FROM ML.PUBLIC.INPUT WHERE ID >= 5",
    "SELECT * FROM ML.PUBLIC.INPUT -- ; DROP TABLE ML.PUBLIC.CANARY",
]


@pytest.fixture
def canary(workspace: LocalWorkspace) -> pd.DataFrame:
    frame = pd.DataFrame({"ID": [1, 2, 3]})
    workspace.write_table("CANARY", frame)
    return frame


@pytest.mark.parametrize("query", STACKED)
def test_non_read_only_queries_are_refused_locally_and_nothing_runs(
    local_hook: SnowflakeBatchInferenceHook,
    workspace: LocalWorkspace,
    canary: pd.DataFrame,
    tmp_path: Path,
    query: str,
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    with pytest.raises(InputValidationError, match="input_query"):
        local_hook.input_source(input_query=query.format(outside=outside))
    pd.testing.assert_frame_equal(workspace.read_table("CANARY"), canary)
    assert not list(outside.iterdir())


@pytest.mark.parametrize("query", STACKED)
def test_non_read_only_queries_are_refused_on_snowflake_before_any_statement(
    hook: Any, session: Any, query: str
) -> None:
    with pytest.raises(InputValidationError, match="input_query"):
        hook.input_source(input_query=query.format(outside="/tmp"))
    session.sql.assert_not_called()


@pytest.mark.parametrize("query", READ_ONLY)
def test_read_only_queries_are_accepted_and_described(
    local_hook: SnowflakeBatchInferenceHook, canary: pd.DataFrame, query: str
) -> None:
    from local_support import FEATURES

    source = local_hook.input_source(input_query=query)
    assert not source.query.endswith(";")  # type: ignore[union-attr]
    model = local_hook.get_model_version("IRIS")
    local_hook.validate_input(source, model.functions[0])
    columns = local_hook.backend.describe_input(source)
    assert [c.name for c in columns][1:4] == FEATURES


def test_duckdb_reading_of_a_backslash_quote_cannot_stack_a_statement(
    local_hook: SnowflakeBatchInferenceHook, workspace: LocalWorkspace, canary: pd.DataFrame
) -> None:
    """Snowflake reads ``'a\\'...'`` as one string; DuckDB ends the string at the backslash-quote.

    sqlglot (Snowflake dialect) accepts the text as one SELECT, so DuckDB's own parser has the last
    word on the local backend.
    """
    query = "SELECT *, 'a\\' AS X FROM ML.PUBLIC.INPUT; DROP TABLE ML.PUBLIC.CANARY; --' AS Y FROM ML.PUBLIC.INPUT"
    source = local_hook.input_source(input_query=query)  # one Snowflake statement
    model = local_hook.get_model_version("IRIS")
    with pytest.raises(InputValidationError, match="DROP"):
        local_hook.validate_input(source, model.functions[0])
    pd.testing.assert_frame_equal(workspace.read_table("CANARY"), canary)


@pytest.mark.parametrize(
    "query",
    [
        "SELECT * FROM read_text('{secret}')",
        "SELECT * FROM read_csv('{secret}')",
        "SELECT * FROM ML.PUBLIC.INPUT, (SELECT content FROM read_blob('{secret}'))",
    ],
)
def test_a_read_only_query_cannot_read_files_outside_the_workspace(
    local_hook: SnowflakeBatchInferenceHook, tmp_path: Path, query: str
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("a,b\n1,2\n")
    source = local_hook.input_source(input_query=query.format(secret=secret))
    model = local_hook.get_model_version("IRIS")
    with pytest.raises(InputValidationError, match="Permission Error|file system operations are disabled"):
        local_hook.validate_input(source, model.functions[0])


@given(
    head=st.sampled_from(["SELECT 1 AS A", "SELECT * FROM T", "WITH a AS (SELECT 1) SELECT * FROM a"]),
    tail=st.sampled_from(
        [
            "DROP TABLE T",
            "DELETE FROM T",
            "TRUNCATE TABLE T",
            "CREATE TABLE X (A INT)",
            "GRANT ALL ON T TO ROLE R",
        ]
    ),
    separator=st.sampled_from([";", ";\n", " ; ", ";--\n", ";/* c */"]),
)
def test_any_stacked_statement_is_refused(head: str, tail: str, separator: str) -> None:
    from airflow_snowflake_batch.inference.inputs import check_input_query

    with pytest.raises(InputValidationError, match="input_query holds 2 statements"):
        check_input_query(head + separator + tail)
