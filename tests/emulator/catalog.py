"""A case-exact view of table columns, which DuckDB (fakesnow's engine) does not have.

Snowflake keeps ``"score"`` and ``SCORE`` as two columns (identifier rules: a quoted name is
case-sensitive, an unquoted one is stored upper-cased), and resolves a column name exactly:
``INSERT INTO T (SCORE)`` fails with "invalid identifier" when T has only ``"score"``, and
``ALTER TABLE T ADD COLUMN IF NOT EXISTS SCORE`` adds a second column next to ``"score"``.
DuckDB matches names case-insensitively, so it would quietly write into ``"score"``.

The emulator checks both statements against the exact spelling of the table's columns: an INSERT
naming a column the table does not hold in that exact spelling is Snowflake's error 904; an ADD
COLUMN that would create a case twin is refused (DuckDB cannot hold the twin Snowflake would make),
so a client relying on either leniency fails on the emulator as it would misbehave on Snowflake.
"""

from __future__ import annotations

import re

from emulator.names import Name, identifier
from emulator.rewrites import closing_paren
from emulator.server import SqlError

_ADD_COLUMN = re.compile(
    r"^\s*ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?P<table>\S+)\s+ADD\s+(?:COLUMN\s+)?(?P<if>IF\s+NOT\s+EXISTS\s+)?"
    r'(?P<column>"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)\s',
    re.I,
)
_INSERT = re.compile(r"^\s*INSERT\s+(?:OVERWRITE\s+)?INTO\s+(?P<table>[^\s(]+)\s*\(", re.I)


def table_columns(table: Name) -> list[str] | None:
    """The exact column names of a qualified table, or None when it does not exist (or is unqualified)."""
    import fakesnow.server

    if table.database is None or table.schema is None:
        return None
    with fakesnow.server.shared_fs.duck_conn.cursor() as duck:
        rows = duck.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = ? AND schema_name = ? "
            "AND table_name = ? ORDER BY column_index",
            [table.database, table.schema, table.name],
        ).fetchall()
    return [row[0] for row in rows] or None


def split_list(text: str) -> list[str]:
    """A comma-separated list of identifiers (commas inside quotes kept)."""
    items, current, quote = [], "", False
    for char in text:
        if char == '"':
            quote = not quote
        if char == "," and not quote:
            items.append(current)
            current = ""
        else:
            current += char
    return [*items, current]


def check_columns(text: str) -> None:
    """Raise Snowflake's error for an INSERT or ADD COLUMN that DuckDB would resolve case-insensitively."""
    if match := _ADD_COLUMN.match(text):
        columns = table_columns(Name.parse(match["table"]))
        added = identifier(match["column"])
        if columns is not None and added not in columns:
            twins = [c for c in columns if c.upper() == added.upper()]
            if twins:
                raise SqlError(
                    1003,
                    f"Emulator: ADD COLUMN {match['column']} would make a second column next to "
                    f"{twins[0]!r} on Snowflake (identifiers are case-exact there); DuckDB cannot hold both.",
                    "42000",
                )
        return
    if match := _INSERT.match(text):
        end = closing_paren(text, match.end())
        columns = table_columns(Name.parse(match["table"]))
        if columns is None:
            return
        for item in split_list(text[match.end() : end]):
            if identifier(item) not in columns:
                raise SqlError(904, f"SQL compilation error: invalid identifier '{item.strip()}'", "42000")
