"""DuckDB access for a local workspace: short-lived connections, exports and atomic loads.

Each Snowflake database is a DuckDB file attached under its own name, so ``ML.PUBLIC.INPUT`` means
the same thing in DuckDB as in Snowflake and a user's three-part query runs unchanged.

DuckDB lets one process at a time open a file for writing, and several processes (Airflow tasks,
detached jobs, the test process) share a workspace. Connections are therefore opened for one
operation and closed at once, never held while a model scores, and opening retries lock conflicts
(:func:`airflow_snowflake_batch.backends.retry.is_transient` recognises DuckDB's
``Could not set lock on file ...: Conflicting lock is held`` message) for up to
:data:`LOCK_TIMEOUT_SECONDS`. A wait is logged (the task log, when an Airflow task waits) when it
starts and every :data:`LOCK_WAIT_LOG_SECONDS` after, so a long wait never looks like a hang.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import tenacity

from airflow_snowflake_batch.backends.base import Column, PartitionValue, subquery
from airflow_snowflake_batch.backends.retry import is_transient
from airflow_snowflake_batch.exceptions import InputValidationError
from airflow_snowflake_batch.identifiers import Identifier, ObjectName
from airflow_snowflake_batch.inference.results import match_columns

if TYPE_CHECKING:
    from airflow_snowflake_batch.backends.local.layout import Layout

LOCK_TIMEOUT_SECONDS = 120.0
# Rows per row group of exported inputs, i.e. per work unit of a job: large enough that per-unit costs
# (opening, one output file) vanish, small enough that 1M rows still make 8 units for the workers.
EXPORT_ROW_GROUP_ROWS = 131_072
_DUCKDB_VECTOR_ROWS = 2_048
# A lock wait is logged when it starts, then at most once per this many seconds.
LOCK_WAIT_LOG_SECONDS = 10.0
# DuckDB's own catalogs: a Snowflake database of one of these names cannot be attached.
_DUCKDB_CATALOGS = frozenset({"MEMORY", "SYSTEM", "TEMP", "MAIN"})
# The schema holding each database's COPY load history (see :func:`insert_files`).
META_SCHEMA = Identifier("_LOCAL_META")
_LOAD_HISTORY = Identifier("LOAD_HISTORY")

# DuckDB instances of one process do not see each other's file locks: serialise them here.
_process_lock = threading.RLock()

log = logging.getLogger(__name__)


@contextmanager
def connect(
    layout: Layout,
    database: Identifier | None = None,
    schema: Identifier | None = None,
    *,
    create: Iterable[Identifier] = (),
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection with every database of the workspace attached, closed on exit.

    ``database``/``schema`` become the session's current ones (for unqualified names, as in a
    Snowflake session); databases in ``create`` are created when missing.
    """
    for name in {*create, *([database] if database else [])}:
        if name.value.upper() in _DUCKDB_CATALOGS:
            raise InputValidationError(
                f"Database name {name.sql} is reserved by DuckDB, which stores local workspace tables; "
                "choose another database name."
            )
    wanted = set(create)
    with _process_lock:
        con = _open(layout, wanted)
        try:
            if database is not None and _catalog_exists(con, database):
                target = database.quoted
                if schema is not None and _schema_exists(con, database, schema):
                    target += "." + schema.quoted
                con.execute(f"USE {target}")
            yield con
        finally:
            con.close()


class _LockWaitLog:
    """tenacity ``before_sleep``: log a lock wait at its start and every LOCK_WAIT_LOG_SECONDS."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.next_at = 0.0

    def __call__(self, retry_state: tenacity.RetryCallState) -> None:
        waited = retry_state.seconds_since_start or 0.0
        if waited < self.next_at:
            return
        self.next_at = waited + LOCK_WAIT_LOG_SECONDS
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        log.warning(
            "Waiting for a DuckDB file of workspace %s held by another process (%.0fs of %.0fs so far): %s",
            self.layout.root,
            waited,
            LOCK_TIMEOUT_SECONDS,
            exc,
        )


def _open(layout: Layout, create: set[Identifier]) -> duckdb.DuckDBPyConnection:
    waits = _LockWaitLog(layout)
    for attempt in tenacity.Retrying(
        retry=tenacity.retry_if_exception(is_transient),
        stop=tenacity.stop_after_delay(LOCK_TIMEOUT_SECONDS),
        wait=tenacity.wait_random_exponential(multiplier=0.05, max=1.0),
        before_sleep=waits,
        reraise=True,
    ):
        with attempt:
            con = duckdb.connect()
            try:
                _confine(con, layout)
                files = layout.databases()
                for name in create - files.keys():
                    files[name] = layout.database_file(name)
                    files[name].parent.mkdir(parents=True, exist_ok=True)
                for name, path in sorted(files.items()):
                    con.execute(f"ATTACH ? AS {name.quoted}", [str(path)])
                # From here on no statement (a user's input_query included) can change these settings.
                con.execute("SET lock_configuration = true")
            except BaseException:
                con.close()
                raise
            if waits.next_at:  # a wait was logged: say when it ended
                log.info(
                    "Opened the DuckDB files of workspace %s after waiting %.1fs.",
                    layout.root,
                    attempt.retry_state.seconds_since_start or 0.0,
                )
            return con
    raise AssertionError("unreachable")  # pragma: no cover


def _confine(con: duckdb.DuckDBPyConnection, layout: Layout) -> None:
    """Let the connection touch files only inside the workspace: no COPY TO, read_text or ATTACH of
    anything outside it, no extension downloads, spills into the workspace's tmp folder."""
    root = str(layout.root)
    con.execute("SET allowed_directories = ?", [[root + "/"]])
    con.execute("SET temp_directory = ?", [str(layout.confine(layout.root / "tmp" / "duckdb"))])
    con.execute("SET enable_external_access = false")


def check_single_query(con: duckdb.DuckDBPyConnection, query: str) -> None:
    """DuckDB's own parse of a user query: one SELECT, or an error (the hook's sqlglot check, again).

    The hook parsed the query as Snowflake SQL; DuckDB reads some text differently (a backslash
    before a quote ends a DuckDB string, not a Snowflake one), so DuckDB's parser has the last word.
    """
    statements = con.extract_statements(query)
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        kinds = ", ".join(s.type.name for s in statements) or "none"
        raise InputValidationError(
            f"input_query must be exactly one read-only query; the local workspace's DuckDB reads it as: "
            f"{kinds}. Remove the extra statements, or quote strings the way both Snowflake and DuckDB read them."
        )


def _catalog_exists(con: duckdb.DuckDBPyConnection, database: Identifier) -> bool:
    row = con.execute(
        "SELECT count(*) FROM duckdb_databases() WHERE database_name = ?", [database.value]
    ).fetchone()
    return bool(row and row[0])


def _schema_exists(con: duckdb.DuckDBPyConnection, database: Identifier, schema: Identifier) -> bool:
    row = con.execute(
        "SELECT count(*) FROM duckdb_schemas() WHERE database_name = ? AND schema_name = ?",
        [database.value, schema.value],
    ).fetchone()
    return bool(row and row[0])


def ensure_schema(con: duckdb.DuckDBPyConnection, database: Identifier, schema: Identifier) -> None:
    """Create the schema if missing (its database must be attached)."""
    if not _catalog_exists(con, database):
        raise InputValidationError(f"Database {database.sql} does not exist in the local workspace.")
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {database.quoted}.{schema.quoted}")


def table_exists(con: duckdb.DuckDBPyConnection, table: ObjectName) -> bool:
    row = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? AND table_name = ?",
        [table.database.value, table.schema.value, table.name.value],  # type: ignore[union-attr]
    ).fetchone()
    return bool(row and row[0])


def list_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every table of the attached databases, as ``DB.SCHEMA.TABLE`` (quoted where Snowflake would need it)."""
    rows = con.execute(
        "SELECT database_name, schema_name, table_name FROM duckdb_tables() "
        "WHERE NOT internal AND NOT temporary ORDER BY ALL"
    ).fetchall()
    return [".".join(Identifier(part).sql for part in row) for row in rows]


def describe_query(con: duckdb.DuckDBPyConnection, query: str) -> list[Column]:
    check_single_query(con, query)
    return [Column(name=row[0], sql_type=row[1]) for row in con.execute(f"DESCRIBE {query}").fetchall()]


def table_columns(con: duckdb.DuckDBPyConnection, table: ObjectName) -> list[Column]:
    return describe_query(con, f"SELECT * FROM {table.quoted}")


def export_parquet(
    con: duckdb.DuckDBPyConnection, query: str, path: Path, row_group_rows: int | None = None
) -> None:
    """Write the query's rows to one Parquet file with DuckDB's own ``COPY ... TO`` (no row passes
    through Python: 4-5x faster than streaming Arrow batches to a ``ParquetWriter``).

    Row groups are the work units of a job, so their size is a multiple of DuckDB's 2,048-row vectors:
    then every row group but the last holds exactly ``row_group_rows`` rows, in the query's order, and
    the same input gives the same units (and output files) on every run. Default:
    :data:`EXPORT_ROW_GROUP_ROWS`.
    """
    check_single_query(con, query)
    row_group_rows = row_group_rows or EXPORT_ROW_GROUP_ROWS
    if row_group_rows <= 0 or row_group_rows % _DUCKDB_VECTOR_ROWS:
        raise ValueError(
            f"row_group_rows must be a positive multiple of {_DUCKDB_VECTOR_ROWS}, got {row_group_rows}."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    con.execute(
        f"COPY {subquery(query)} TO ? (FORMAT parquet, ROW_GROUP_SIZE {int(row_group_rows)})", [str(path)]
    )


def insert_files(
    con: duckdb.DuckDBPyConnection,
    table: ObjectName,
    files: Sequence[Path],
    *,
    mode: str,
    partition: dict[str, PartitionValue],
    upper_case_new_columns: bool,
    skip_loaded: bool,
    create_if_missing: bool = True,
) -> int:
    """Load Parquet ``files`` into ``table`` in one transaction; return the rows inserted.

    The write contract of both backends (docs/write_contract.rst):

    - with a ``partition``, only that partition's rows are replaced, whatever ``mode``;
    - ``mode="overwrite"`` without one deletes the table's rows and inserts (the table stays);
    - ``mode="append"`` without one adds rows; with ``skip_loaded``, files already loaded into the
      table (same path, size and modification time) are skipped, as Snowflake's COPY load history does;
    - file and partition columns the table lacks are added (``ALTER TABLE ... ADD COLUMN``); the
      table is created from the files when missing (not when there is no file to tell its columns).

    File columns match table columns case-insensitively (``MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE``);
    new columns are upper-cased with ``upper_case_new_columns`` (as ``INFER_SCHEMA(IGNORE_CASE => TRUE)``
    names them). Loads with ``skip_loaded`` are recorded in the database's ``_LOCAL_META.LOAD_HISTORY``.
    """
    ensure_schema(con, table.database, table.schema)  # type: ignore[arg-type]
    keys = [_file_key(f) for f in files]
    paths = [path for path, _ in keys]
    con.execute("BEGIN TRANSACTION")
    try:
        _ensure_history(con, table)
        if not table_exists(con, table):
            if not create_if_missing:
                raise InputValidationError(f"Table {table.sql} does not exist.")
            if not paths:
                con.execute("COMMIT")
                return 0
            _create_from_files(con, table, paths, partition, upper_case_new_columns)
        _add_missing_columns(con, table, paths, partition, upper_case_new_columns)
        if partition:
            where = " AND ".join(f"{Identifier(c).quoted} IS NOT DISTINCT FROM ?" for c in partition)
            con.execute(f"DELETE FROM {table.quoted} WHERE {where}", list(partition.values()))
        elif mode == "overwrite":
            con.execute(f"DELETE FROM {table.quoted}")
            _forget_history(con, table)
        elif skip_loaded:
            loaded = _loaded_keys(con, table)
            keys = [k for k in keys if k not in loaded]
        rows = _insert(con, table, [path for path, _ in keys], partition) if keys else 0
        if skip_loaded:
            for path, (size, mtime) in keys:
                con.execute(
                    f"INSERT INTO {_history_name(table)} VALUES (?, ?, ?, ?, now())",
                    [table.sql, path, size, mtime],
                )
        con.execute("COMMIT")
        return rows
    except duckdb.Error as exc:
        con.execute("ROLLBACK")
        raise _load_error(con, table, files, exc) from exc
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _load_error(
    con: duckdb.DuckDBPyConnection, table: ObjectName, files: Sequence[Path], exc: duckdb.Error
) -> InputValidationError:
    """DuckDB's error as a user can act on it: which file or column, and what to do."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    detail = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    unreadable = []
    for path in files:
        try:
            pq.read_metadata(path)
        except (pa.ArrowException, OSError):
            unreadable.append(path.name)
    if unreadable:
        return InputValidationError(
            f"Cannot load into {table.sql}: {', '.join(unreadable)} in {files[0].parent} is not a readable "
            f"Parquet file ({detail}). Replace or remove it, then load again."
        )
    if isinstance(exc, duckdb.ConversionException) and table_exists(con, table):
        wanted = {c.name.upper(): c for c in table_columns(con, table)}
        given = pq.read_schema(files[0])
        clashes = [
            f"{f.name} ({f.type} in the files, {wanted[f.name.upper()].sql_type} in the table)"
            for f in given
            if f.name.upper() in wanted
        ]
        return InputValidationError(
            f"Cannot load into {table.sql}: a value does not fit its column's type ({detail}). Columns loaded: "
            f"{'; '.join(clashes)}. Load into a new table, or change the mismatched column's type."
        )
    return InputValidationError(f"Cannot load {len(files)} file(s) into {table.sql}: {detail}.")


# DuckDB types of partition columns, by Python type (bool first: it subclasses int).
_PARTITION_TYPES = ((bool, "BOOLEAN"), (int, "BIGINT"), (float, "DOUBLE"), (str, "VARCHAR"))


def _add_missing_columns(
    con: duckdb.DuckDBPyConnection,
    table: ObjectName,
    files: list[str],
    partition: dict[str, PartitionValue],
    upper_case: bool,
) -> None:
    """``ALTER TABLE ... ADD COLUMN`` for each file or partition column the table lacks.

    A column the table has in another case is written there (``match_columns``, the Snowflake
    backend's rule too); DuckDB cannot hold two case variants of one name, so its refusal of such a
    table never fires here.
    """
    wanted: list[tuple[str, str]] = []
    for name, sql_type in _file_column_types(con, files) if files else []:
        if name.upper() not in {p.upper() for p in partition}:
            wanted.append((name.upper() if upper_case else name, sql_type))
    for column, value in partition.items():
        wanted.append((column, next(t for kind, t in _PARTITION_TYPES if isinstance(value, kind))))
    existing = [c.name for c in table_columns(con, table)]
    matched = match_columns(table.sql, existing, [name for name, _ in wanted])
    for name, sql_type in wanted:
        if matched[name] is None:
            matched[name] = name
            con.execute(f"ALTER TABLE {table.quoted} ADD COLUMN {Identifier(name).quoted} {sql_type}")


def _file_key(path: Path) -> tuple[str, tuple[int, float]]:
    stat = path.stat()
    return str(path), (stat.st_size, stat.st_mtime)


def _history_name(table: ObjectName) -> str:
    return ObjectName(name=_LOAD_HISTORY, schema=META_SCHEMA, database=table.database).quoted


def _ensure_history(con: duckdb.DuckDBPyConnection, table: ObjectName) -> None:
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {table.database.quoted}.{META_SCHEMA.quoted}")  # type: ignore[union-attr]
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {_history_name(table)} "
        "(table_name VARCHAR, file_path VARCHAR, file_size BIGINT, file_mtime DOUBLE, loaded_at TIMESTAMP)"
    )


def _forget_history(con: duckdb.DuckDBPyConnection, table: ObjectName) -> None:
    # As after TRUNCATE in Snowflake: once the rows are gone, the same files may be loaded again.
    con.execute(f"DELETE FROM {_history_name(table)} WHERE table_name = ?", [table.sql])


def _loaded_keys(con: duckdb.DuckDBPyConnection, table: ObjectName) -> set[tuple[str, tuple[int, float]]]:
    rows = con.execute(
        f"SELECT file_path, file_size, file_mtime FROM {_history_name(table)} WHERE table_name = ?",
        [table.sql],
    ).fetchall()
    return {(path, (size, mtime)) for path, size, mtime in rows}


def _file_column_types(con: duckdb.DuckDBPyConnection, files: list[str]) -> list[tuple[str, str]]:
    return [
        (row[0], row[1])
        for row in con.execute(
            "DESCRIBE SELECT * FROM read_parquet(?, union_by_name = true)", [files]
        ).fetchall()
    ]


def _file_columns(con: duckdb.DuckDBPyConnection, files: list[str]) -> list[str]:
    return [name for name, _ in _file_column_types(con, files)]


def _create_from_files(
    con: duckdb.DuckDBPyConnection,
    table: ObjectName,
    files: list[str],
    partition: dict[str, PartitionValue],
    upper_case: bool,
) -> None:
    selected = []
    for name in _file_columns(con, files):
        if name.upper() in {p.upper() for p in partition}:
            continue
        stored = name.upper() if upper_case else name
        selected.append(f"{Identifier(name).quoted} AS {Identifier(stored).quoted}")
    selected += [f"? AS {Identifier(c).quoted}" for c in partition]
    con.execute(
        f"CREATE TABLE {table.quoted} AS SELECT {', '.join(selected)} "
        "FROM read_parquet(?, union_by_name = true) LIMIT 0",
        [*partition.values(), files],
    )


def _insert(
    con: duckdb.DuckDBPyConnection,
    table: ObjectName,
    files: list[str],
    partition: dict[str, PartitionValue],
) -> int:
    """Insert the files' rows by column name (the table has every file column: see ``_add_missing_columns``)."""
    table_cols = {c.name.upper(): c.name for c in table_columns(con, table)}
    targets, values, params = [], [], []
    for name in _file_columns(con, files):
        if name.upper() not in {p.upper() for p in partition}:
            targets.append(Identifier(table_cols[name.upper()]).quoted)
            values.append(Identifier(name).quoted)
    for column, value in partition.items():
        targets.append(Identifier(table_cols[column.upper()]).quoted)
        values.append("?")
        params.append(value)
    row = con.execute(
        f"INSERT INTO {table.quoted} ({', '.join(targets)}) SELECT {', '.join(values)} "
        "FROM read_parquet(?, union_by_name = true)",
        [*params, files],
    ).fetchone()
    return int(row[0]) if row else 0


def query_frame(con: duckdb.DuckDBPyConnection, query: str, params: Sequence[Any] | None = None) -> Any:
    """Run a statement; its rows as a pandas DataFrame (empty for statements returning none)."""
    import pandas as pd

    result = con.execute(query, params) if params else con.execute(query)
    if result.description is None:
        return pd.DataFrame()
    return result.df()
