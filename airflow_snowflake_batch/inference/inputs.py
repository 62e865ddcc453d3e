"""What an input may be: one of table, query, stage location or files; a read-only query; file names.

The hook parses names and lists files (I/O); these functions decide, so the same input gets the same
error on Snowflake and on the local workspace, before anything runs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_snowflake_batch.exceptions import InputValidationError, InvalidIdentifierError
from airflow_snowflake_batch.identifiers import StageLocation
from airflow_snowflake_batch.inference import signature
from airflow_snowflake_batch.inference.column_handling import ENCODED_TYPES, check_column_handling

if TYPE_CHECKING:
    from airflow_snowflake_batch.backends.base import Column, ModelFunction


@dataclass(frozen=True)
class CheckedColumns:
    """What :func:`check_columns` found: the handling normalized, and what still needs counting.

    :param handling: ``column_handling`` normalized (lower-case values, keys as stored column names).
    :param matched: The column feeding each signature input, by feature name.
    :param nullable_columns: Columns feeding a feature that cannot hold NULL, whose NULLs must be
        counted (by the backend) before anything runs; sorted.
    """

    handling: dict[str, dict[str, str]]
    matched: dict[str, Column]
    nullable_columns: list[str]


def one_input(**inputs: object) -> str:
    """The name of the one input given (a truthy value), or an error listing what was given.

    >>> one_input(input_table="T", input_query=None)
    'input_table'
    """
    given = [name for name, value in inputs.items() if value]
    if len(given) != 1:
        raise InputValidationError(
            f"Exactly one of {', '.join(inputs)} must be set; got {', '.join(given) or 'none'}."
        )
    return given[0]


def file_pattern(pattern: str | None) -> str | None:
    """A ``file_pattern`` that is a valid regular expression (None or empty: every file)."""
    if not pattern:
        return None
    try:
        re.compile(pattern)
    except re.error as exc:
        raise InputValidationError(
            f"file_pattern {pattern!r} is not a valid regular expression ({exc}); expected e.g. r'.*\\.png'."
        ) from exc
    return pattern


def matching_files(location: StageLocation, names: Sequence[str], pattern: str | None) -> tuple[str, ...]:
    """The full stage paths of the files under ``location`` whose relative name matches ``pattern``.

    Each path must itself be a valid stage location, since batch jobs read it as one.

    >>> matching_files(StageLocation.parse("@DB.SC.MEDIA/img/"), ["a.png", "b.txt"], r".*\\.png")
    ('@DB.SC.MEDIA/img/a.png',)
    """
    matching = [n for n in names if pattern is None or re.fullmatch(pattern, n)]
    if not matching:
        raise InputValidationError(
            f"input_files {location.sql} holds no file"
            + (f" matching file_pattern {pattern!r}" if pattern else "")
            + f" ({len(names)} file(s) in total); nothing was submitted."
        )
    paths = []
    for name in matching:
        path = f"{location.sql}{name}"
        try:
            StageLocation.parse(path, what="input file")
        except InvalidIdentifierError as exc:
            raise InputValidationError(
                f"Input file {path!r} has a name batch jobs cannot take: {exc} Rename it, or exclude it "
                "with file_pattern."
            ) from exc
        paths.append(path)
    return tuple(paths)


def require_parquet(location: StageLocation, names: Sequence[str]) -> None:
    """``input_stage_location`` is read as Parquet: a folder of images or audio needs ``input_files``."""
    if not any(n.lower().endswith(".parquet") for n in names):
        found = f"it holds {len(names)} other file(s), e.g. {list(names[:3])}" if names else "it is empty"
        raise InputValidationError(
            f"input_stage_location {location.sql} holds no Parquet files ({found}). Batch jobs read "
            "input_stage_location as Parquet; to score a folder of files (images, audio...) one by one, "
            f"use input_files={location.sql!r} instead."
        )


# What an input_query may contain besides one query: nothing that writes, changes the session or
# runs a command. sqlglot parses unknown statements as Command, which is refused too.
_NOT_READ_ONLY = (
    "DML",
    "DDL",
    "Command",
    "Copy",
    "Into",
    "Set",
    "Use",
    "Transaction",
    "Commit",
    "Rollback",
    "Pragma",
    "Merge",
    "Alter",
    "Drop",
    "Create",
)


def check_input_query(query: str) -> str:
    """``input_query`` as one read-only query (a trailing ``;`` dropped), or an error naming it.

    The text reaches ``session.sql()`` on Snowflake and DuckDB locally, both of which would run every
    statement of a stacked ``SELECT ...; DROP TABLE ...``. It is parsed with sqlglot's Snowflake
    dialect, so the check is the same on both backends and runs before anything else.

    >>> check_input_query("SELECT * FROM ML.PUBLIC.T;")
    'SELECT * FROM ML.PUBLIC.T'
    """
    import sqlglot
    from sqlglot import exp

    text = query.strip() if isinstance(query, str) else ""
    expected = "exactly one read-only query (SELECT ..., WITH ... SELECT ..., or set operations of them)"
    try:
        # A comment after the last ";" parses as a bare Semicolon: not a statement.
        statements = [
            s
            for s in sqlglot.parse(text, read="snowflake")
            if s is not None and not isinstance(s, exp.Semicolon)
        ]
    except sqlglot.errors.SqlglotError as exc:
        raise InputValidationError(
            f"input_query cannot be parsed as Snowflake SQL ({str(exc).splitlines()[0]}): expected {expected}. "
            "If it is valid Snowflake SQL, wrap it in a view and pass input_table instead."
        ) from exc
    except RecursionError:
        # sqlglot parses recursively: a query nested some 150 levels deep exhausts Python's stack.
        raise InputValidationError(
            f"input_query is nested too deeply to check: expected {expected}. Wrap the query in a view "
            "and pass input_table instead."
        ) from None
    if len(statements) != 1:
        raise InputValidationError(
            f"input_query holds {len(statements)} statements: expected {expected}. "
            "Remove the extra statements (and any ';' between them)."
        )
    statement = statements[0]
    forbidden = tuple(getattr(exp, name) for name in _NOT_READ_ONLY if hasattr(exp, name))
    offending = next((node for node in statement.walk() if isinstance(node, forbidden)), None)
    if not isinstance(statement, (exp.Query, exp.Subquery)) or offending is not None:
        kind = type(offending or statement).__name__.upper()
        raise InputValidationError(
            f"input_query is a {kind} statement or holds one: expected {expected}. "
            "Batch inference only reads its input; run other statements in a separate task."
        )
    return text.rstrip(";").rstrip()


def check_columns(
    function: ModelFunction,
    columns: list[Column],
    column_handling: Mapping[str, Any],
    *,
    strict: bool,
    partition: Mapping[str, object],
    where: str,
    json_text: bool,
) -> CheckedColumns:
    """The input's columns and ``column_handling`` fit the function (every check that needs no data).

    Columns feed the inputs by snowflake-ml's naming rule (the converted value counts for a column of
    ``column_handling``), and no output or partition column replaces an input column.
    """
    handling = check_column_handling(function, columns, column_handling, where=where)
    matched = signature.match_input_columns(
        function,
        columns,
        strict=strict,
        where=where,
        converted={c: ENCODED_TYPES[h["convert_to"]] for c, h in handling.items()},
        json_text=json_text,
    )
    signature.check_output_columns(function, columns, partition, where=where)
    nullable = sorted({matched[f.name].name for f in function.inputs if signature.cannot_hold_null(f)})
    return CheckedColumns(handling=handling, matched=matched, nullable_columns=nullable)
