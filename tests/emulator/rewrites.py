"""Text rewrites of ordinary statements fakesnow cannot run as the libraries send them.

- ``CREATE SCOPED TEMPORARY ...`` → ``CREATE TEMPORARY ...`` (snowflake-ml's temporary stages);
- ``CREATE [TEMPORARY] TABLE t("A" DOUBLE, ...) AS SELECT ...`` (Snowpark's ``save_as_table``) →
  ``CREATE [TEMPORARY] TABLE t AS SELECT ...``: DuckDB takes no column list in a CTAS, and Snowpark's
  SELECT already casts every column to the listed type;
- ``CREATE TEMPORARY TABLE DB.SC.T ...`` → ``CREATE TABLE DB.SC.T ...``: DuckDB keeps temporary
  tables in its own ``temp`` catalog, so a qualified temporary table is made a plain one (it is not
  dropped at session end: the provider drops its staging tables itself).
- ``SELECT HASH_AGG(*), ... FROM <source> AS <alias>`` → the sum of DuckDB's 64-bit ``HASH(<alias>)`` of
  each whole row, wrapped to a signed 64-bit number by :data:`HASH_AGG_FUNCTION`. DuckDB has no
  ``HASH_AGG``; Snowflake documents it (https://docs.snowflake.com/en/sql-reference/functions/hash_agg)
  as a signed 64-bit hash of a set of rows that does not depend on their order, counts NULLs (a row
  with a NULL hashes, it is not skipped), and is 0 for no row. The values differ from Snowflake's (its
  hash function is its own); those properties hold. Only the ``FROM ... AS <alias>`` form is emulated.
- ``SELECT $1 AS "C" FROM VALUES (...)`` (Snowpark's ``create_dataframe``) → ``SELECT COLUMN1 AS "C"
  FROM VALUES (...)``: Snowflake names a ``VALUES`` clause's columns ``COLUMN1``, ``COLUMN2``, ... and
  lets a query refer to them by position (https://docs.snowflake.com/en/sql-reference/constructs/values);
  fakesnow takes ``$1`` for a bind parameter and DuckDB fails the statement.
"""

from __future__ import annotations

import re
from typing import Any

_SCOPED = re.compile(r"\bSCOPED\s+TEMPORARY\b", re.I)
_QUALIFIED_TEMP = re.compile(
    r"^(\s*CREATE\s+(?:OR\s+REPLACE\s+)?)(?:LOCAL\s+|GLOBAL\s+)?(?:TEMP|TEMPORARY)\s+(TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?[^\s(.]+\.[^\s(]+)",
    re.I,
)
_CTAS = re.compile(
    r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:(?:LOCAL|GLOBAL)\s+)?(?:TEMP|TEMPORARY|TRANSIENT)?\s*TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?[^\s(]+\s*\(",
    re.I,
)


#: The DuckDB function finishing an emulated HASH_AGG: text of a HUGEINT sum → signed 64-bit number.
HASH_AGG_FUNCTION = "EMULATOR_HASH_AGG"
_HASH_AGG = re.compile(r"\bHASH_AGG\(\s*\*\s*\)", re.I)
_ALIAS_AT_END = re.compile(r"\bAS\s+([A-Za-z_][A-Za-z0-9_]*)\s*$", re.I)


def rewrite_hash_agg(text: str) -> str:
    """``HASH_AGG(*)`` of a statement ending ``AS <alias>`` (see the module docstring)."""
    if not _HASH_AGG.search(text) or (alias := _ALIAS_AT_END.search(text)) is None:
        return text
    # fakesnow casts a SUM's argument to DOUBLE unless it is cast already: HUGEINT keeps all 64 bits.
    total = f"CAST(SUM(CAST(HASH({alias[1]}) AS HUGEINT)) AS VARCHAR)"
    return _HASH_AGG.sub(f"{HASH_AGG_FUNCTION}({total})", text)


def hash_agg_finish(totals: Any) -> Any:
    """Arrow UDF: the sum (text, NULL for no row) modulo 2^64 as a signed 64-bit number (0 for no row)."""
    import pyarrow as pa

    out = []
    for total in totals.to_pylist():
        value = int(total or 0) % 2**64
        out.append(value - 2**64 if value >= 2**63 else value)
    return pa.array(out, pa.int64())


def install(duck_conn: Any) -> None:
    """Register :data:`HASH_AGG_FUNCTION` on fakesnow's DuckDB."""
    import contextlib

    with contextlib.suppress(Exception):  # left by an earlier account in this process
        duck_conn.remove_function(HASH_AGG_FUNCTION)
    duck_conn.create_function(
        HASH_AGG_FUNCTION, hash_agg_finish, ["VARCHAR"], "BIGINT", type="arrow", side_effects=False
    )


_FROM_VALUES = re.compile(r"\bFROM\s+VALUES\s*\(", re.I)
# A quoted string or identifier (kept as it is), or a positional column reference.
_POSITIONAL = re.compile(r"""('(?:[^'\\]|\\.|'')*'|"(?:[^"]|"")*")|\$(\d+)\b""")


def rewrite_positional_columns(text: str) -> str:
    """``$<n>`` outside quotes → ``COLUMN<n>`` in a statement that selects from a ``VALUES`` clause."""
    if not _FROM_VALUES.search(text):
        return text
    return _POSITIONAL.sub(lambda m: m[1] or f"COLUMN{m[2]}", text)


def rewrite(text: str) -> str:
    text = rewrite_positional_columns(text)
    text = rewrite_hash_agg(text)
    text = _SCOPED.sub("TEMPORARY", text)
    text = _QUALIFIED_TEMP.sub(r"\1\2", text, count=1)
    if match := _CTAS.match(text):
        end = closing_paren(text, match.end())
        if re.match(r"\s*AS\s+SELECT\b", text[end + 1 :], re.I):
            text = text[: match.end() - 1] + text[end + 1 :]
    return text


def closing_paren(text: str, start: int) -> int:
    """The index of the ``)`` closing the ``(`` just before ``start`` (quoted text is skipped)."""
    depth, quote = 1, ""
    for i in range(start, len(text)):
        char = text[i]
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return i
    raise ValueError("unbalanced parentheses")
