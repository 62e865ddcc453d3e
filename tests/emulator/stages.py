"""Internal stages as folders, and the stage statements fakesnow lacks or gets wrong.

Stages are fakesnow's own (``CREATE STAGE``, ``PUT``, ``LIST`` are fakesnow's): each is a folder
``<bucket>/<DB>/<SCHEMA>/<STAGE>/``. This module adds:

- ``COPY INTO '@stage/path/' FROM (query) FILE_FORMAT = (TYPE = parquet) ...`` (unload, as
  ``DataFrame.write.copy_into_location`` sends it): the query runs on fakesnow, one Parquet file out;
- ``CREATE TABLE ... USING TEMPLATE (... INFER_SCHEMA(LOCATION => '@...', [FILES => (...)], ...))`` and
  ``SELECT COLUMN_NAME, TYPE FROM TABLE(INFER_SCHEMA(...))``:
  the columns come from the Parquet files' schemas. Like Snowflake, every file under the location is
  read unless ``FILES`` names them, so a 0-byte ``_SUCCESS`` fails the statement;
- ``COPY INTO table FROM @... PATTERN = '...'``: fakesnow has no ``PATTERN``, takes ``FORCE = FALSE``
  for ``FORCE = TRUE`` and a qualified ``FORMAT_NAME`` only as a string, so the pattern becomes a
  ``FILES`` list, ``FORCE = FALSE`` is dropped and the format name is quoted;
- ``LIST @stage/path/`` (fakesnow lists whole stages only): names as Snowflake gives them,
  ``<stage in lower case>/<path>/<file>``, with ``size``, ``md5`` and ``last_modified`` (RFC 1123 text);
- ``REMOVE @stage/path``: deletes the files under the path;
- a LIST, REMOVE or COPY location with a quoted stage name or a special character in its path must be
  single-quoted (``'@DB.SC."my stage"/p/'``), as LIST's page requires; unquoted it is a compilation error
  (``names.Stage``).
- ``SHOW STAGES``: fakesnow ignores ``LIKE`` and ``ENCRYPTION``; the emulator filters by name and
  reports stages created with ``TYPE = 'SNOWFLAKE_SSE'`` as ``INTERNAL NO CSE``, as Snowflake does.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import threading
import uuid
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pyarrow as pa

from emulator.names import Name, Stage, sql
from emulator.rewrites import rewrite
from emulator.server import Answer, Rewrite, SqlError

_UNLOAD = re.compile(
    r"^\s*COPY\s+INTO\s+'(?P<location>@[^']+)'\s+FROM\s+\((?P<query>.*)\)\s+FILE_FORMAT\s*=", re.I | re.S
)
_INFER_TEMPLATE = re.compile(
    r"^\s*CREATE\s+TABLE\s+IF\s+NOT\s+EXISTS\s+(?P<table>\S+)\s+USING\s+TEMPLATE\s*\(.*INFER_SCHEMA\((?P<args>.*)\)\)\s*\)\s*;?\s*$",
    re.I | re.S,
)
_INFER_COLUMNS = re.compile(
    r"^\s*SELECT\s+COLUMN_NAME\s*,\s*TYPE\s+FROM\s+TABLE\s*\(\s*INFER_SCHEMA\((?P<args>.*)\)\s*\)\s*;?\s*$",
    re.I | re.S,
)
_INFER_LOCATION = re.compile(r"LOCATION\s*=>\s*'(?P<location>[^']+)'", re.I)
_INFER_FILES = re.compile(r"FILES\s*=>\s*\((?P<files>[^)]*)\)", re.I)
# A location: single-quoted (with '' escapes), or unquoted up to the next space (names.Stage checks it).
_LOCATION = r"(?P<location>'(?:[^'\\]|''|\\.)*'|@.+?)"
_COPY_LOAD = re.compile(rf"^\s*COPY\s+INTO\s+(?P<table>[^\s'(]+)\s+FROM\s+{_LOCATION}\s", re.I | re.S)
_PATTERN = re.compile(r"\s+PATTERN\s*=\s*'(?P<pattern>(?:[^']|'')*)'", re.I)
_FORMAT_NAME = re.compile(r"FORMAT_NAME\s*=\s*(?P<name>[^\s')]+)", re.I)
_FORCE_FALSE = re.compile(r"\s+FORCE\s*=\s*FALSE\b", re.I)
_LIST = re.compile(rf"^\s*(?:LIST|LS)\s+{_LOCATION}\s*;?\s*$", re.I)
_CREATE_SSE_STAGE = re.compile(
    r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?STAGE\s+(?:IF\s+NOT\s+EXISTS\s+)?(?P<name>\S+)\s.*SNOWFLAKE_SSE",
    re.I | re.S,
)
_SHOW_STAGES = re.compile(r"^\s*SHOW\s+STAGES(?:\s+LIKE\s+'(?P<like>[^']*)')?", re.I)
_REMOVE = re.compile(rf"^\s*(?:REMOVE|RM)\s+{_LOCATION}\s*;?\s*$", re.I)

INFER_SCHEMA_MAX_FILES = 1000
# Arrow types → the Snowflake types INFER_SCHEMA reports.
_SNOWFLAKE_TYPES = [
    (pa.types.is_boolean, "BOOLEAN"),
    (pa.types.is_integer, "NUMBER(38,0)"),
    (pa.types.is_floating, "FLOAT"),
    (pa.types.is_string, "TEXT"),
    (pa.types.is_large_string, "TEXT"),
    (pa.types.is_binary, "BINARY"),
    (pa.types.is_date, "DATE"),
    (pa.types.is_timestamp, "TIMESTAMP_NTZ"),
]


def patch_fakesnow_copy_files() -> None:
    """Let fakesnow's ``COPY ... FILES = (...)`` read internal stages (it wants a URL scheme there)."""
    import os

    from fakesnow import copy_into
    from fakesnow.transforms import stage

    original = getattr(copy_into._source_urls, "__wrapped__", copy_into._source_urls)  # noqa: SLF001

    def source_urls(source: str, files: list[str]) -> list[str]:
        if stage.is_internal(source):
            return [os.path.join(source, name) for name in files] or [source]
        return original(source, files)

    source_urls.__wrapped__ = original  # type: ignore[attr-defined]
    copy_into._source_urls = source_urls  # noqa: SLF001


class StageFiles:
    """Stage folders in fakesnow's bucket, and a fakesnow connection to run unload queries on."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conn: Any = None
        self.sse: set[str] = set()  # stages created with ENCRYPTION = (TYPE = 'SNOWFLAKE_SSE')

    def folder(self, location: str | Stage) -> Path:
        """The folder of a stage location (a test's own string is not held to a statement's quoting)."""
        from fakesnow.transforms import stage

        parsed = location if isinstance(location, Stage) else Stage.parse(location, strict=False)
        name = parsed.stage
        assert name.database is not None and name.schema is not None, "stage locations must be qualified"
        root = Path(stage.internal_dir(f"{name.database}.{name.schema}.{name.name}"))
        return root.joinpath(*parsed.path.strip("/").split("/")) if parsed.path.strip("/") else root

    def handle(self, text: str) -> Answer | Rewrite | None:
        if match := _UNLOAD.match(text):
            return self._unload(match["location"], match["query"])
        if match := _INFER_TEMPLATE.match(text):
            return self._create_from_template(match["table"], match["args"])
        if match := _INFER_COLUMNS.match(text):
            columns = self._infer_columns(match["args"])
            return Answer(pa.table({"COLUMN_NAME": list(columns), "TYPE": list(columns.values())}))
        if match := _CREATE_SSE_STAGE.match(text):
            self.sse.add(Name.parse(match["name"]).name)
            return None
        if match := _SHOW_STAGES.match(text):
            return self._show_stages(text, match["like"])
        if match := _LIST.match(text):
            return self._list(match["location"])
        if match := _REMOVE.match(text):
            return self._remove(match["location"])
        if match := _COPY_LOAD.match(text):
            return self._copy_load(text, match["location"])
        return None

    def run(self, query: str) -> pa.Table:
        """Run Snowflake SQL on fakesnow's engine (after the emulator's rewrites) and return the rows."""
        import fakesnow.server

        with self._lock:
            if self._conn is None:
                self._conn = fakesnow.server.shared_fs.connect(None, None)
            cursor = self._conn.cursor()
            cursor.execute(rewrite(query))
            return cursor._arrow_table  # noqa: SLF001 - fakesnow keeps the result as Arrow

    def _unload(self, location: str, query: str) -> Answer:
        import pyarrow.parquet as pq

        table = self.run(query)
        folder = self.folder(location)
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, folder / f"data_{uuid.uuid4().hex[:8]}_0_0_0.snappy.parquet")
        return Answer(
            pa.table(
                {
                    "rows_unloaded": [table.num_rows],
                    "input_bytes": [table.nbytes],
                    "output_bytes": [table.nbytes],
                }
            )
        )

    def _create_from_template(self, table: str, args: str) -> Rewrite:
        body = ", ".join(f'"{name}" {sql_type}' for name, sql_type in self._infer_columns(args).items())
        return Rewrite(f"CREATE TABLE IF NOT EXISTS {table} ({body})")

    def _infer_columns(self, args: str) -> dict[str, str]:
        """``INFER_SCHEMA``'s columns (upper-cased, as with ``IGNORE_CASE => TRUE``) and Snowflake types."""
        import pyarrow.parquet as pq

        location = _INFER_LOCATION.search(args)
        if location is None:
            raise SqlError(1003, "INFER_SCHEMA needs LOCATION => '@...'.")
        folder = self.folder(location["location"])
        files = _INFER_FILES.search(args)
        if files is not None:
            names = [n.strip().strip("'") for n in files["files"].split(",") if n.strip()]
            if len(names) > INFER_SCHEMA_MAX_FILES:
                # INFER_SCHEMA's page: FILES names "one or more (up to 1000) files" (the limit is stated
                # on its Japanese and Korean versions; shared/reference/snowflake-documented-behaviour.md).
                raise SqlError(
                    1003, f"INFER_SCHEMA: FILES names {len(names)} files; at most {INFER_SCHEMA_MAX_FILES}."
                )
            paths = [folder / name for name in names]
        else:
            paths = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
        if not paths:
            raise SqlError(2003, f"Cannot infer a schema: no files at {location['location']}.")
        columns: dict[str, str] = {}
        for path in paths:
            try:
                schema = pq.read_schema(path)
            except Exception as exc:  # Snowflake fails the same way on a file that is not Parquet
                raise SqlError(
                    100152, f"Error parsing the parquet file: {path.name}: {exc}", "22000"
                ) from exc
            for field in schema:
                columns.setdefault(field.name.upper(), _snowflake_type(field.type))
        return columns

    def _show_stages(self, text: str, like: str | None) -> Answer:
        rows = self.run(text).to_pylist()
        if like is not None:
            rows = [
                r for r in rows if re.fullmatch(like.replace("%", ".*").replace("_", "."), r["name"], re.I)
            ]
        for row in rows:
            if row["name"] in self.sse and row["type"] == "INTERNAL":
                row["type"] = "INTERNAL NO CSE"
        columns = self.run(text).column_names
        return Answer(
            pa.table(
                {
                    c: pa.array([str(r[c]) if r[c] is not None else None for r in rows], pa.string())
                    for c in columns
                }
            )
        )

    def _exists(self, stage: Name) -> bool:
        assert stage.database is not None and stage.schema is not None, "stage locations must be qualified"
        rows = self.run(f"SHOW STAGES IN SCHEMA {sql(stage.database)}.{sql(stage.schema)}").to_pylist()
        return any(r["name"] == stage.name for r in rows)

    def _list(self, location: str) -> Answer:
        parsed = Stage.parse(location)
        # Snowflake: LIST of a missing stage is "SQL compilation error: Stage '...' does not exist or
        # not authorized." (002003), where fakesnow lists nothing.
        if not self._exists(parsed.stage):
            raise SqlError(
                2003,
                f"SQL compilation error:\nStage '{parsed.stage.sql}' does not exist or not authorized.",
                "02000",
            )
        root = self.folder(Stage(stage=parsed.stage, path=""))
        folder = self.folder(parsed)
        files = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
        prefix = parsed.stage.name.lower()
        # LIST's columns as Snowflake types them: name, size (NUMBER), md5 (hex text) and last_modified,
        # an RFC 1123 date string ("Mon, 30 Nov 2026 04:47:14 GMT"), not a TIMESTAMP.
        return Answer(
            pa.table(
                {
                    "name": pa.array(
                        [f"{prefix}/{p.relative_to(root).as_posix()}" for p in files], pa.string()
                    ),
                    "size": pa.array([p.stat().st_size for p in files], pa.int64()),
                    "md5": pa.array([hashlib.md5(p.read_bytes()).hexdigest() for p in files], pa.string()),  # noqa: S324 - LIST reports MD5
                    "last_modified": pa.array(
                        [formatdate(p.stat().st_mtime, usegmt=True) for p in files], pa.string()
                    ),
                }
            )
        )

    def _remove(self, location: str) -> Answer:
        folder = self.folder(Stage.parse(location))
        removed = sorted(str(p) for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
        if folder.is_dir():
            shutil.rmtree(folder)
        return Answer(
            pa.table(
                {
                    "name": pa.array([Path(p).name for p in removed], pa.string()),
                    "result": pa.array(["removed"] * len(removed), pa.string()),
                }
            )
        )

    def _copy_load(self, text: str, location: str) -> Rewrite:
        parsed = Stage.parse(location)
        rewritten = _FORMAT_NAME.sub(lambda m: f"FORMAT_NAME = '{m['name']}'", _FORCE_FALSE.sub("", text))
        if pattern := _PATTERN.search(rewritten):
            regex = re.compile(pattern["pattern"].replace("''", "'"))
            folder = self.folder(parsed)
            names = (
                sorted(
                    str(p.relative_to(folder))
                    for p in folder.rglob("*")
                    if p.is_file() and regex.fullmatch(p.name)
                )
                if folder.is_dir()
                else []
            )
            files = ", ".join(f"'{n}'" for n in names) or "'no-such-file.parquet'"
            rewritten = _PATTERN.sub(f" FILES = ({files})", rewritten, count=1)
        return Rewrite(rewritten)


def _snowflake_type(arrow: pa.DataType) -> str:
    if pa.types.is_decimal(arrow):  # NUMBER columns unload as decimals
        return f"NUMBER({arrow.precision},{arrow.scale})"
    return next((name for test, name in _SNOWFLAKE_TYPES if test(arrow)), "VARIANT")
