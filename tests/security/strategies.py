"""Hypothesis strategies of hostile names and values, shared by the security tests."""

from __future__ import annotations

from hypothesis import strategies as st

# The pieces a probe of hostile inputs combines: quotes of both kinds, backslashes, path
# separators and parents, comments, statement ends, control characters and non-ASCII text.
HOSTILE_PIECES = [
    "'",
    '"',
    "\\",
    "\\'",
    "..",
    ".",
    "/",
    "../",
    "--",
    "/*",
    "*/",
    ";",
    "; DROP TABLE ML.PUBLIC.CANARY; --",
    "$",
    "$$",
    "%2e%2e",
    "\n",
    "\t",
    "\x00",
    " ",
    "@",
    "~",
    "é",
    "\u202e",
    "{{",
    ":",
    "#",
    "- ",
]

hostile_text = st.lists(
    st.one_of(st.sampled_from(HOSTILE_PIECES), st.text(min_size=1, max_size=4)), min_size=1, max_size=6
).map("".join)


def quoted(value: str) -> str:
    """``value`` as a double-quoted Snowflake identifier (so it is taken as written)."""
    return '"' + value.replace('"', '""') + '"'


# A name as a DAG author might template it: raw text, or the text as a quoted identifier, possibly
# qualified with hostile database and schema parts.
hostile_name = st.one_of(
    hostile_text,
    hostile_text.map(quoted),
    st.tuples(hostile_text, hostile_text, hostile_text).map(lambda p: ".".join(quoted(x) for x in p)),
)
