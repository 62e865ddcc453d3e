"""Parsing and quoting of names and stage locations: the only gate between user text and SQL."""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp

from airflow_snowflake_batch.exceptions import InvalidIdentifierError
from airflow_snowflake_batch.identifiers import (
    Identifier,
    ObjectName,
    StageLocation,
    default_job_name,
    feature_column,
    quote_string,
)


@pytest.mark.parametrize(
    ("text", "stored", "sql"),
    [
        ("scores", "SCORES", "SCORES"),
        ("  _tmp$1 ", "_TMP$1", "_TMP$1"),
        ('"Mixed Case"', "Mixed Case", '"Mixed Case"'),
        ('"SCORES"', "SCORES", "SCORES"),
        ('"lower"', "lower", '"lower"'),
        ('"say ""hi"""', 'say "hi"', '"say ""hi"""'),
        ('"a.b"', "a.b", '"a.b"'),
        ("select", "SELECT", '"SELECT"'),  # reserved words stay usable, quoted
        ('"TABLE"', "TABLE", '"TABLE"'),
    ],
)
def test_identifier_parse_and_render(text, stored, sql):
    ident = Identifier.parse(text)
    assert ident.value == stored
    assert ident.sql == sql
    # The rendering reads back as the same identifier.
    assert Identifier.parse(ident.sql) == ident


@pytest.mark.parametrize(
    "text",
    ["", "1abc", "a b", "a;b", "T; DROP TABLE X", "a-b", '"unterminated', 'x"y', '""', "a" * 256, "a.b"],
)
def test_invalid_identifiers_are_rejected_with_the_expectation(text):
    with pytest.raises(InvalidIdentifierError, match="expected"):
        Identifier.parse(text, what="table")


def test_identifier_rejects_non_strings():
    with pytest.raises(InvalidIdentifierError, match="a string"):
        Identifier.parse(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "parts", "sql"),
    [
        ("t", (None, None, "T"), "T"),
        ("sc.t", (None, "SC", "T"), "SC.T"),
        ('db."My Schema".t', ("DB", "My Schema", "T"), 'DB."My Schema".T'),
        ('"a.b".sc."c.d"', ("a.b", "SC", "c.d"), '"a.b".SC."c.d"'),
        ("db.sc.order", ("DB", "SC", "ORDER"), 'DB.SC."ORDER"'),
    ],
)
def test_object_names(text, parts, sql):
    name = ObjectName.parse(text)
    got = tuple(p.value if p else None for p in (name.database, name.schema, name.name))
    assert got == parts
    assert name.sql == sql
    table = sqlglot.parse_one(f"SELECT * FROM {name.sql}", read="snowflake").find(exp.Table)
    assert table.name == parts[2]


@pytest.mark.parametrize("text", ["a..b", "a.b.c.d", ".a", "a.", "a. b", "db.sc.t;", "db.sc.t -- x"])
def test_bad_object_names(text):
    with pytest.raises(InvalidIdentifierError):
        ObjectName.parse(text)


def test_qualify_fills_defaults_and_explains_what_is_missing():
    assert ObjectName.parse("t").qualify("db", Identifier("SC")).sql == "DB.SC.T"
    assert ObjectName.parse("x.sc.t").qualify("db", "other").sql == "X.SC.T"
    with pytest.raises(InvalidIdentifierError, match="no schema was given"):
        ObjectName.parse("t").qualify("db", None)
    with pytest.raises(InvalidIdentifierError, match="no database was given"):
        ObjectName.parse("t").qualify("  ", "sc")


@pytest.mark.parametrize(
    ("text", "stage", "path", "sql"),
    [
        ("@out", "OUT", "", "@OUT/"),
        ("@db.sc.out/preds", "DB.SC.OUT", "preds/", "@DB.SC.OUT/preds/"),
        ("@db.sc.out/preds/2024-01-01/", "DB.SC.OUT", "preds/2024-01-01/", "@DB.SC.OUT/preds/2024-01-01/"),
        ('@db."My/Stage"/a=1/b', 'DB."My/Stage"', "a=1/b/", '@DB."My/Stage"/a=1/b/'),
        ("@sc.out//x//", "SC.OUT", "x/", "@SC.OUT/x/"),
    ],
)
def test_stage_locations(text, stage, path, sql):
    location = StageLocation.parse(text)
    assert (location.stage.sql, location.path, location.sql) == (stage, path, sql)


@pytest.mark.parametrize(
    "text",
    [
        "out/preds",
        "@~/x",
        "@%table/x",
        "@out/../secret",
        "@out/a/./b",
        "@out/a b",
        "@out/a;b",
        "@out/a'b",
        "@T; DROP TABLE X/x",
        '@out/"q"',
    ],
)
def test_bad_stage_locations(text):
    with pytest.raises(InvalidIdentifierError):
        StageLocation.parse(text)


def test_child_and_contains():
    base = StageLocation.parse("@db.sc.out/preds")
    job = base.child("JOB_1")
    assert job.sql == "@DB.SC.OUT/preds/JOB_1/"
    assert base.contains(job) and base.contains(base) and not job.contains(base)
    assert not base.contains(StageLocation.parse("@db.sc.out/predictions/x"))
    assert not base.contains(StageLocation.parse("@db.sc.other/preds/x"))
    with pytest.raises(InvalidIdentifierError):
        base.child("..")
    with pytest.raises(InvalidIdentifierError):
        base.child("a b")


def test_qualified_location():
    assert StageLocation.parse("@out/x").qualify("db", "sc").sql == "@DB.SC.OUT/x/"


@pytest.mark.parametrize("value", ["plain", "it's", "back\\slash", "\\'; DROP TABLE X; --"])
def test_quote_string_round_trips_through_a_snowflake_parser(value):
    literal = sqlglot.parse_one(f"SELECT {quote_string(value)}", read="snowflake").find(exp.Literal)
    assert literal.is_string and literal.this == value


def test_default_job_name_is_deterministic_valid_and_distinct():
    name = default_job_name("dag", "task", "manual__2024-01-01T00:00:00+00:00", -1)
    assert name == default_job_name("dag", "task", "manual__2024-01-01T00:00:00+00:00", -1)
    assert Identifier.parse(name.sql) == name and name.sql == name.value  # needs no quoting
    assert name.value.startswith("AIRFLOW_BATCH_") and len(name.value) == len("AIRFLOW_BATCH_") + 16
    others = {
        default_job_name("dag", "task", "manual__2024-01-01T00:00:00+00:00", 0),
        default_job_name("dag", "task2", "manual__2024-01-01T00:00:00+00:00", -1),
        default_job_name("dag2", "task", "manual__2024-01-01T00:00:00+00:00", -1),
        default_job_name("da", "gtask", "manual__2024-01-01T00:00:00+00:00", -1),
    }
    assert name not in others and len(others) == 4


@pytest.mark.parametrize("feature", ["sepal_length", "SEPAL_LENGTH", "Sepal Length", '"quoted"', "a$1", "_x"])
def test_feature_column_follows_snowflake_ml_naming_rules(feature):
    """Both rules give the stored name of the column snowflake-ml itself looks up for the feature."""
    from snowflake.ml._internal.utils import identifier

    inferred = Identifier.parse(identifier.get_inferred_name(feature)).value
    assert feature_column(feature, normalized=False) == inferred
    try:
        normalized = Identifier.parse(identifier.resolve_identifier(feature)).value
    except ValueError:
        normalized = None
    assert feature_column(feature, normalized=True) == normalized


def test_a_stage_name_needing_double_quotes_is_single_quoted_for_list_and_refused_for_a_load() -> None:
    """Issue 18 item 6: LIST's page requires single quotes around such a location (e.g. '@"my stage"')."""
    from airflow_snowflake_batch.exceptions import InvalidIdentifierError
    from airflow_snowflake_batch.identifiers import StageLocation

    quoted = StageLocation.parse('@DB.SC."my stage"/p')
    assert quoted.statement_sql == "'@DB.SC.\"my stage\"/p/'"
    assert StageLocation.parse('@DB."sc".OUT/p').statement_sql == "'@DB.\"sc\".OUT/p/'"
    assert StageLocation.parse("@db.sc.out/p").statement_sql == "@DB.SC.OUT/p/"
    with pytest.raises(
        InvalidIdentifierError, match="COPY INTO a table is not documented for a quoted stage"
    ):
        quoted.check_loadable()
