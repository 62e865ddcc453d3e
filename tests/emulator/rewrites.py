"""Text rewrites of ordinary statements fakesnow cannot run as the libraries send them.

- ``CREATE SCOPED TEMPORARY ...`` → ``CREATE TEMPORARY ...`` (snowflake-ml's temporary stages);
- ``CREATE [TEMPORARY] TABLE t("A" DOUBLE, ...) AS SELECT ...`` (Snowpark's ``save_as_table``) →
  ``CREATE [TEMPORARY] TABLE t AS SELECT ...``: DuckDB takes no column list in a CTAS, and Snowpark's
  SELECT already casts every column to the listed type;
- ``CREATE TEMPORARY TABLE DB.SC.T ...`` → ``CREATE TABLE DB.SC.T ...``: DuckDB keeps temporary
  tables in its own ``temp`` catalog, so a qualified temporary table is made a plain one (it is not
  dropped at session end: the provider drops its staging tables itself).
"""

from __future__ import annotations

import re

_SCOPED = re.compile(r"\bSCOPED\s+TEMPORARY\b", re.I)
_QUALIFIED_TEMP = re.compile(
    r"^(\s*CREATE\s+(?:OR\s+REPLACE\s+)?)(?:LOCAL\s+|GLOBAL\s+)?(?:TEMP|TEMPORARY)\s+(TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?[^\s(.]+\.[^\s(]+)",
    re.I,
)
_CTAS = re.compile(
    r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:(?:LOCAL|GLOBAL)\s+)?(?:TEMP|TEMPORARY|TRANSIENT)?\s*TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?[^\s(]+\s*\(",
    re.I,
)


def rewrite(text: str) -> str:
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
