"""The one place where names and stage locations are validated and quoted for SQL.

Every table, stage, model, version, function, column and job name, and every stage location that
reaches a SQL statement on either backend passes through this module. User text is parsed into
:class:`Identifier`, :class:`ObjectName` or :class:`StageLocation` and only their ``sql`` renderings
are ever placed in SQL, so a templated value such as ``T; DROP TABLE X`` is rejected here instead of
becoming a statement.

Snowflake's rules apply: an unquoted identifier is stored upper-cased, a double-quoted one is kept
as written (``""`` escapes a quote inside it).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from airflow_snowflake_batch.constants import DEFAULT_JOB_PREFIX
from airflow_snowflake_batch.exceptions import InvalidIdentifierError

_UNQUOTED = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_STORED_UNQUOTED = re.compile(r"[A-Z_][A-Z0-9_$]*")
# One part of a dotted name: a quoted identifier (with "" escapes) or an unquoted one.
_PART = re.compile(r'"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*')
_MAX_LENGTH = 255
# Stage sub-paths: letters, digits and a few separators; no quotes, spaces, semicolons or "..".
_STAGE_PATH = re.compile(r"[A-Za-z0-9_\-.=/]*")

# Snowflake's reserved words (docs "Reserved & limited keywords"): such names must be quoted.
_RESERVED = frozenset(
    """
    ACCOUNT ALL ALTER AND ANY AS BETWEEN BY CASE CAST CHECK COLUMN CONNECT CONNECTION CONSTRAINT
    CREATE CROSS CURRENT CURRENT_DATE CURRENT_TIME CURRENT_TIMESTAMP CURRENT_USER DATABASE DELETE
    DISTINCT DROP ELSE EXISTS FALSE FOLLOWING FOR FROM FULL GRANT GROUP GSCLUSTER HAVING ILIKE IN
    INCREMENT INNER INSERT INTERSECT INTO IS ISSUE JOIN LATERAL LEFT LIKE LOCALTIME LOCALTIMESTAMP
    MINUS NATURAL NOT NULL OF ON OR ORDER ORGANIZATION QUALIFY REGEXP REVOKE RIGHT RLIKE ROW ROWS
    SAMPLE SCHEMA SELECT SET SOME START TABLE TABLESAMPLE THEN TO TRIGGER TRUE TRY_CAST UNION UNIQUE
    UPDATE USING VALUES VIEW WHEN WHENEVER WHERE WINDOW WITH
    """.split()  # noqa: SIM905 - one word list reads better than 90 strings
)


def _fail(what: str, text: object, expected: str) -> InvalidIdentifierError:
    return InvalidIdentifierError(f"Invalid {what} {_shown(text)}: expected {expected}.")


def _shown(text: object) -> str:
    """``text`` for an error message; a long value is cut (a templated value can be megabytes)."""
    if isinstance(text, str) and len(text) > 80:
        return f"{text[:60]!r}... ({len(text):,} characters)"
    return repr(text)


@dataclass(frozen=True, order=True)
class Identifier:
    """One Snowflake identifier, held as Snowflake stores it (unquoted input upper-cased)."""

    value: str

    def __post_init__(self) -> None:
        if not self.value or len(self.value) > _MAX_LENGTH or "\x00" in self.value:
            raise _fail("identifier", self.value, f"1 to {_MAX_LENGTH} characters")

    @classmethod
    def parse(cls, text: str, *, what: str = "identifier") -> Identifier:
        """Parse user text: ``my_table`` → ``MY_TABLE``, ``"My Table"`` → ``My Table``.

        >>> Identifier.parse("scores").sql
        'SCORES'
        >>> Identifier.parse('"Mixed Case"').sql
        '"Mixed Case"'
        """
        if not isinstance(text, str):
            raise _fail(what, text, "a string")
        text = text.strip()
        if len(text) >= 2 and text[0] == '"' and text[-1] == '"' and _PART.fullmatch(text):
            return cls._checked(text[1:-1].replace('""', '"'), what, text)
        if _UNQUOTED.fullmatch(text):
            return cls._checked(text.upper(), what, text)
        raise _fail(
            what,
            text,
            'letters, digits, "_" or "$" starting with a letter or "_", or a double-quoted name',
        )

    @classmethod
    def _checked(cls, value: str, what: str, text: str) -> Identifier:
        # Checked here, not only in __post_init__, so the error names the argument (what), not "identifier".
        if len(value) > _MAX_LENGTH or "\x00" in value:
            raise _fail(what, text, f"1 to {_MAX_LENGTH} characters per name part, without NUL")
        return cls(value)

    @property
    def sql(self) -> str:
        """The identifier as it must be written in SQL (quoted only when needed)."""
        if _STORED_UNQUOTED.fullmatch(self.value) and self.value not in _RESERVED:
            return self.value
        return '"' + self.value.replace('"', '""') + '"'

    @property
    def quoted(self) -> str:
        """The identifier always double-quoted: for engines whose reserved words differ (DuckDB)."""
        return '"' + self.value.replace('"', '""') + '"'

    def __str__(self) -> str:
        return self.sql


def _split_parts(text: str, what: str) -> list[str]:
    parts: list[str] = []
    pos = 0
    while True:
        match = _PART.match(text, pos)
        if match is None:
            raise _fail(what, text, "a name like NAME, SCHEMA.NAME or DATABASE.SCHEMA.NAME")
        parts.append(match.group())
        pos = match.end()
        if pos == len(text):
            return parts
        if text[pos] != ".":
            raise _fail(what, text, "a name like NAME, SCHEMA.NAME or DATABASE.SCHEMA.NAME")
        pos += 1


@dataclass(frozen=True)
class ObjectName:
    """A schema-level object name (table, stage, model, job), possibly partly qualified."""

    name: Identifier
    schema: Identifier | None = None
    database: Identifier | None = None

    @classmethod
    def parse(cls, text: str, *, what: str = "object name") -> ObjectName:
        """Parse ``NAME``, ``SCHEMA.NAME`` or ``DATABASE.SCHEMA.NAME`` (any part may be quoted).

        >>> ObjectName.parse('db.sc."My Table"').sql
        'DB.SC."My Table"'
        """
        if not isinstance(text, str) or not text.strip():
            raise _fail(what, text, "a non-empty name")
        parts = [Identifier.parse(p, what=what) for p in _split_parts(text.strip(), what)]
        if len(parts) > 3:
            raise _fail(what, text, "at most three parts: DATABASE.SCHEMA.NAME")
        padded: list[Identifier | None] = [None] * (3 - len(parts)) + list(parts)
        return cls(database=padded[0], schema=padded[1], name=parts[-1])

    @property
    def is_qualified(self) -> bool:
        return self.database is not None and self.schema is not None

    def qualify(self, database: str | Identifier | None, schema: str | Identifier | None) -> ObjectName:
        """Fill the missing database/schema from defaults; error when one is still missing."""
        db = self.database or _as_identifier(database, "database")
        sc = self.schema or _as_identifier(schema, "schema")
        if db is None or sc is None:
            raise InvalidIdentifierError(
                f"Cannot resolve {self.sql!r} to DATABASE.SCHEMA.NAME: no "
                f"{'database' if db is None else 'schema'} was given and the connection has no default. "
                "Pass a fully qualified name or set database/schema on the task or connection."
            )
        return ObjectName(name=self.name, schema=sc, database=db)

    @property
    def sql(self) -> str:
        return ".".join(p.sql for p in (self.database, self.schema, self.name) if p is not None)

    @property
    def quoted(self) -> str:
        """Every part double-quoted (see :attr:`Identifier.quoted`)."""
        return ".".join(p.quoted for p in (self.database, self.schema, self.name) if p is not None)

    def __str__(self) -> str:
        return self.sql


def _as_identifier(value: str | Identifier | None, what: str) -> Identifier | None:
    if value is None or isinstance(value, Identifier):
        return value
    return Identifier.parse(value, what=what) if value.strip() else None


@dataclass(frozen=True)
class StageLocation:
    """A location on a named stage: ``@DB.SCHEMA.STAGE/sub/path/``.

    ``path`` is empty or a relative folder ending in ``/``; file paths keep no trailing slash.
    """

    stage: ObjectName
    path: str = ""
    # The argument the location came from (e.g. "input_files"), so an error about it far from the
    # parsing (a missing stage, found by LIST) can name it. Not part of the location's identity.
    what: str = field(default="", compare=False, repr=False)

    @classmethod
    def parse(cls, text: str, *, what: str = "stage location") -> StageLocation:
        """Parse ``@STAGE``, ``@SCHEMA.STAGE/path`` or ``@DB.SCHEMA.STAGE/path/``.

        >>> StageLocation.parse("@db.sc.out/preds").sql
        '@DB.SC.OUT/preds/'
        """
        if not isinstance(text, str) or not text.strip().startswith("@"):
            raise _fail(what, text, "a location starting with '@', like @DB.SCHEMA.STAGE/path/")
        body = text.strip()[1:]
        if body.startswith(("~", "%")):
            raise _fail(what, text, "a named stage (user and table stages are not supported)")
        # The stage name ends at the first "/" outside double quotes.
        in_quotes, cut = False, len(body)
        for i, ch in enumerate(body):
            if ch == '"':
                in_quotes = not in_quotes
            elif ch == "/" and not in_quotes:
                cut = i
                break
        stage = ObjectName.parse(body[:cut], what=f"stage name in {what}")
        return cls(stage=stage, path=_normalize_folder(body[cut:], what, text), what=what)

    def qualify(self, database: str | Identifier | None, schema: str | Identifier | None) -> StageLocation:
        return StageLocation(self.stage.qualify(database, schema), self.path, self.what)

    def child(self, name: str) -> StageLocation:
        """The sub-folder ``name`` of this location (used for ``<stage_location>/<JOB_NAME>/``)."""
        return StageLocation(self.stage, _normalize_folder(self.path + name, "stage folder", name), self.what)

    def contains(self, other: StageLocation) -> bool:
        """Whether ``other`` lies at or below this location (same stage, path prefix)."""
        return self.stage == other.stage and other.path.startswith(self.path)

    @property
    def sql(self) -> str:
        """The location as written after ``FROM``/``LIST`` in SQL: ``@DB.SC.STAGE/path/``."""
        return f"@{self.stage.sql}/{self.path}"

    @property
    def needs_quotes(self) -> bool:
        """Whether a statement must single-quote this location: a part of its stage name is a quoted
        identifier (``"my stage"``, ``"out"``). LIST's reference page: "If the stage name or path includes
        spaces or special characters, it must be enclosed in single quotes (e.g. '@"my stage"')";
        paths never hold such characters here (:func:`_normalize_folder`).

        >>> StageLocation.parse('@DB.SC."my stage"/p').needs_quotes, StageLocation.parse("@DB.SC.OUT").needs_quotes
        (True, False)
        """
        parts = (self.stage.database, self.stage.schema, self.stage.name)
        return any(part is not None and part.sql.startswith('"') for part in parts)

    @property
    def statement_sql(self) -> str:
        """The location as LIST and REMOVE take it: single-quoted when :attr:`needs_quotes`.

        >>> print(StageLocation.parse('@DB.SC."my stage"/p').statement_sql, StageLocation.parse("@DB.SC.OUT/p").statement_sql)
        '@DB.SC."my stage"/p/' @DB.SC.OUT/p/
        """
        return quote_string(self.sql) if self.needs_quotes else self.sql

    def check_loadable(self, what: str = "output_location") -> StageLocation:
        """Refuse, before anything runs, a location ``COPY INTO <table> FROM`` may not read.

        LIST's and COPY FILES' pages document the single-quoted form for stage names needing quotes;
        the COPY INTO <table> page found does not, so such a location is refused rather than sent in an
        unconfirmed form (the load would fail half-way, after its DDL).

        >>> StageLocation.parse("@DB.SC.OUT/p").check_loadable().sql
        '@DB.SC.OUT/p/'
        """
        if self.needs_quotes:
            raise _fail(
                what,
                self.sql,
                "a stage whose database, schema and name need no double quotes (letters, digits, _ and $, "
                "upper case) to load from: COPY INTO a table is not documented for a quoted stage name. "
                "Write the job output to such a stage (CREATE STAGE ... ; e.g. MY_STAGE)",
            )
        return self

    def __str__(self) -> str:
        return self.sql


def _normalize_folder(path: str, what: str, original: str) -> str:
    path = path.strip("/")
    if not _STAGE_PATH.fullmatch(path) or any(seg in ("", ".", "..") for seg in path.split("/") if path):
        raise _fail(what, original, "a path of letters, digits and _ - . = separated by '/', without '..'")
    return f"{path}/" if path else ""


# A job's last name part also names its output folder, <output_stage_location>/<JOB_NAME>/: it must be
# one stage path segment, so "/" (nesting), "." and ".." (parents), and "$" (not a stage path
# character) are refused here, once, for both backends.
_JOB_FOLDER = re.compile(r"[A-Za-z0-9_]+")


def parse_job_name(text: str, *, what: str = "job_name") -> ObjectName:
    """A job name, ``NAME`` or ``DB.SCHEMA.NAME``, whose ``NAME`` is letters, digits and ``_``.

    >>> parse_job_name("ml.public.score_daily").sql
    'ML.PUBLIC.SCORE_DAILY'
    >>> parse_job_name('"nightly_1"').name.value
    'nightly_1'
    """
    name = ObjectName.parse(text, what=what)
    if not _JOB_FOLDER.fullmatch(name.name.value):
        raise _fail(
            what,
            text,
            "letters, digits and '_' only in the job's name (e.g. SCORE_DAILY), as it also names the "
            "job's output folder <output_stage_location>/<JOB_NAME>/",
        )
    return name


def quote_string(value: str) -> str:
    """A SQL string literal, for the few places Snowflake accepts no bind variable (DDL options).

    >>> quote_string("it's")
    "'it\\\\'s'"
    """
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def default_job_name(dag_id: str, task_id: str, run_id: str, map_index: int = -1) -> Identifier:
    """A deterministic, valid job name for one task instance: the same inputs give the same name.

    A retry of the same task instance computes the same name, so it can find the job an earlier try
    submitted instead of submitting a duplicate.
    """
    digest = hashlib.sha1(f"{dag_id}\x1f{task_id}\x1f{run_id}\x1f{map_index}".encode()).hexdigest()
    return Identifier(f"{DEFAULT_JOB_PREFIX}{digest[:16].upper()}")


def feature_column(feature_name: str, *, normalized: bool) -> str | None:
    """The stored name of the column feeding a signature feature under one of snowflake-ml's two rules.

    snowflake-ml (``model_signature._validate_snowpark_data``) feeds every feature by its exact name
    (the *inferred* rule: ``"a"`` feeds ``a``), or else every feature by its normalized name (the
    *normalized* rule, ``identifier.resolve_identifier``: ``A`` feeds ``a``), never a mix of both.
    None when the name has no normalized form (``Sepal Length``).

    >>> feature_column("sepal_length", normalized=False), feature_column("sepal_length", normalized=True)
    ('sepal_length', 'SEPAL_LENGTH')
    >>> feature_column("Sepal Length", normalized=True) is None
    True
    """
    if not normalized:
        return feature_name
    try:
        return Identifier.parse(feature_name).value
    except InvalidIdentifierError:
        return None
