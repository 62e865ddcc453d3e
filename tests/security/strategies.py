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


# -- operator arguments that are not names (issue 19) ---------------------------------------------

# Numbers as a DAG author might pass or template them: NaN, infinities, huge and negative values,
# text that float() reads as such, booleans, None.
NUMBER_TEXTS = ["nan", "NaN", "inf", "-inf", "1e400", "-0", "0", "1", " 5 ", "0x10", "1_000", "", "None"]

durations = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.timedeltas(),
    st.sampled_from(NUMBER_TEXTS),
    hostile_text,
    st.none(),
    st.booleans(),
)

counts = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(NUMBER_TEXTS),
    hostile_text,
    st.none(),
    st.booleans(),
)

# Stage locations: hostile text after "@", and near-misses of valid ones (missing stage, parents).
stage_locations = st.one_of(
    hostile_text.map(lambda t: "@" + t),
    hostile_name.map(lambda n: f"@{n}/x/"),
    st.sampled_from(["@OUT/preds/", "@MISSING/x/", "@OUT/../x/", "@OUT/./", "@~/x/", "@%T/x/", "OUT/x/", ""]),
)

# Regular expressions: invalid, catastrophic on their own input, or matching everything.
file_patterns = st.one_of(
    st.none(),
    hostile_text,
    st.sampled_from(["", ".*", "(", "[", "(?P<x>", "a{99999}", r"(a+)+$", r".*\.png", "(?i).*", "\\"]),
)

# column_handling: hostile column names mapped to anything from a valid handling to garbage.
HANDLING_WORDS = [
    "input_format",
    "convert_to",
    "INPUT_FORMAT",
    "full_stage_path",
    "bytes",
    "base64",
    "base64_data_url",
]
column_handlings = st.one_of(
    st.none(),
    st.dictionaries(
        st.one_of(hostile_name, st.sampled_from(["SEPAL_LENGTH", "sepal_length", '"SEPAL_LENGTH"'])),
        st.one_of(
            st.dictionaries(
                st.one_of(st.sampled_from(HANDLING_WORDS), hostile_text),
                st.one_of(st.sampled_from(HANDLING_WORDS), hostile_text, st.none(), st.integers()),
                max_size=3,
            ),
            hostile_text,
            st.none(),
            st.integers(),
        ),
        max_size=2,
    ),
)

# The cleanup's job_name_prefix: hostile text, LIKE wildcards, empty, not a string at all.
job_name_prefixes = st.one_of(
    hostile_text, st.sampled_from(["", "%", "_", "AIRFLOW_BATCH_", "A%'--"]), st.none(), st.integers()
)
