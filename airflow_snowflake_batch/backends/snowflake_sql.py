"""The Snowflake SQL statements of :class:`SnowflakeBackend`, as pure functions returning ``(sql, params)``.

Names enter only through their ``identifiers`` renderings (``.sql``) and values as ``?`` bind variables.
The few places Snowflake accepts no bind variable (the ``LIKE`` of a ``SHOW`` command, the ``LOCATION``
and ``FILE_FORMAT`` arguments of ``INFER_SCHEMA``) get a literal made by ``identifiers.quote_string``
from an already validated name or location.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from airflow_snowflake_batch.identifiers import Identifier, ObjectName, StageLocation, quote_string

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from airflow_snowflake_batch.backends.base import PartitionValue

Statement = tuple[str, list[Any]]

BEGIN: Statement = ("BEGIN TRANSACTION", [])
COMMIT: Statement = ("COMMIT", [])
ROLLBACK: Statement = ("ROLLBACK", [])

# Job output files are Parquet; _SUCCESS and other markers must not be loaded.
_PARQUET_PATTERN = quote_string(".*[.]parquet")


def like_pattern(name: Identifier) -> str:
    """A ``SHOW ... LIKE`` literal for ``name``.

    ``_`` and ``%`` stay unescaped: whether ``SHOW`` honours a backslash escape is not documented, and an
    unescaped pattern matches a superset, which callers narrow by comparing names exactly.

    >>> like_pattern(Identifier("MY_STAGE"))
    "'MY_STAGE'"
    """
    return quote_string(name.value)


def _schema(name: ObjectName) -> str:
    if name.database is None or name.schema is None:
        raise ValueError(f"{name.sql} must be qualified as DATABASE.SCHEMA.NAME before reaching SQL.")
    return f"{name.database.sql}.{name.schema.sql}"


def show_stages(stage: ObjectName) -> Statement:
    """``SHOW STAGES``: its ``type`` column tells internal/external and the encryption.

    >>> show_stages(ObjectName.parse("DB.SC.OUT"))
    ("SHOW STAGES LIKE 'OUT' IN SCHEMA DB.SC", [])
    """
    return f"SHOW STAGES LIKE {like_pattern(stage.name)} IN SCHEMA {_schema(stage)}", []


def show_tables(table: ObjectName) -> Statement:
    """``SHOW TABLES`` narrowed to one name (the caller still compares names exactly)."""
    return f"SHOW TABLES LIKE {like_pattern(table.name)} IN SCHEMA {_schema(table)}", []


def show_columns(table: ObjectName) -> Statement:
    """``SHOW COLUMNS``: one row per column, named in ``column_name``."""
    return f"SHOW COLUMNS IN TABLE {table.sql}", []


def list_files(location: StageLocation) -> Statement:
    """``LIST``; a stage name needing double quotes makes the location single-quoted (LIST's page).

    >>> list_files(StageLocation.parse("@DB.SC.OUT/preds/JOB"))
    ('LIST @DB.SC.OUT/preds/JOB/', [])
    >>> print(list_files(StageLocation.parse('@DB.SC."my stage"/p'))[0])
    LIST '@DB.SC."my stage"/p/'
    """
    return f"LIST {location.statement_sql}", []


def show_job_services(database: Identifier, schema: Identifier) -> Statement:
    """``SHOW JOB SERVICES`` of a schema: one row per job with its ``name``, ``status`` and ``created_on``.

    One query gives the status of every job of the schema (the triggerer's batched poll, the cleanup).

    >>> show_job_services(Identifier("DB"), Identifier("SC"))
    ('SHOW JOB SERVICES IN SCHEMA DB.SC', [])
    """
    return f"SHOW JOB SERVICES IN SCHEMA {database.sql}.{schema.sql}", []


def remove_files(location: StageLocation) -> Statement:
    """``REMOVE``, its location written as for ``LIST``."""
    return f"REMOVE {location.statement_sql}", []


def describe_service(job: ObjectName) -> Statement:
    """The job service's row (``status``...); error 2003 when no service of that name exists.

    >>> describe_service(ObjectName.parse('DB.SC."job_1"'))
    ('DESCRIBE SERVICE DB.SC."job_1"', [])
    """
    return f"DESCRIBE SERVICE {job.sql}", []


def cancel_job(job: ObjectName) -> Statement:
    """Cancel a job service: what ``MLJob.cancel()`` sends (snowflake-ml has no other cancel for
    inference jobs); error 2003 when the service is gone.

    >>> cancel_job(ObjectName.parse("DB.SC.JOB_1"))
    ('CALL DB.SC.JOB_1!SPCS_CANCEL_JOB()', [])
    """
    return f"CALL {job.sql}!SPCS_CANCEL_JOB()", []


def drop_service(job: ObjectName) -> Statement:
    """Dropping a job service loses its status and logs; ``IF EXISTS`` makes a repeated drop harmless."""
    return f"DROP SERVICE IF EXISTS {job.sql}", []


def count_rows(table: ObjectName) -> Statement:
    return f"SELECT COUNT(*) FROM {table.sql}", []


def count_input(source: str, null_columns: Iterable[Identifier]) -> Statement:
    """The rows of ``source`` (a table name, or a parenthesised query) and the NULLs of each column, in one scan.

    >>> count_input("DB.SC.T", [Identifier("A"), Identifier("b")])
    ('SELECT COUNT(*), COUNT_IF(A IS NULL), COUNT_IF("b" IS NULL) FROM DB.SC.T', [])
    """
    counts = "".join(f", COUNT_IF({c.sql} IS NULL)" for c in null_columns)
    return f"SELECT COUNT(*){counts} FROM {source}", []


def drop_table(table: ObjectName) -> Statement:
    return f"DROP TABLE IF EXISTS {table.sql}", []


def create_table_like(table: ObjectName, template: ObjectName, *, temporary: bool = False) -> Statement:
    """A table with ``template``'s columns, in the same order (so ``INSERT ... SELECT *`` lines up)."""
    if temporary:
        return f"CREATE TEMPORARY TABLE {table.sql} LIKE {template.sql}", []
    return f"CREATE TABLE IF NOT EXISTS {table.sql} LIKE {template.sql}", []


def add_column(table: ObjectName, column: Identifier, sql_type: str) -> Statement:
    """Add a column unless the table has it already (one statement per column: ``IF NOT EXISTS`` is
    documented for a single column).

    >>> add_column(ObjectName.parse("DB.SC.T"), Identifier("DS"), "VARCHAR")
    ('ALTER TABLE DB.SC.T ADD COLUMN IF NOT EXISTS DS VARCHAR', [])
    """
    return f"ALTER TABLE {table.sql} ADD COLUMN IF NOT EXISTS {column.sql} {checked_type(sql_type)}", []


# A column type as Snowflake reports it (DESCRIBE, INFER_SCHEMA): words, and an optional (p) or (p, s).
_COLUMN_TYPE = re.compile(r"[A-Z_]+(?: [A-Z_]+)*(?:\(\s*\d+\s*(?:,\s*\d+\s*)?\))?")


def checked_type(sql_type: str) -> str:
    """A column type safe to write into DDL (it comes from the catalog, but is text all the same).

    >>> checked_type("NUMBER(38, 0)"), checked_type("TIMESTAMP_NTZ(9)")
    ('NUMBER(38, 0)', 'TIMESTAMP_NTZ(9)')
    """
    text = sql_type.strip().upper()
    if not _COLUMN_TYPE.fullmatch(text):
        raise ValueError(f"Unexpected column type {sql_type!r}.")
    return text


_PARTITION_TYPES = {bool: "BOOLEAN", int: "NUMBER(38,0)", float: "FLOAT", str: "VARCHAR"}


def partition_type(value: PartitionValue) -> str:
    """The SQL type of a partition column, from its Python value (``bool`` before ``int``: it subclasses it).

    >>> partition_type(True), partition_type(3), partition_type("2024-01-01")
    ('BOOLEAN', 'NUMBER(38,0)', 'VARCHAR')
    """
    for python_type, sql_type in _PARTITION_TYPES.items():
        if isinstance(value, python_type):
            return sql_type
    raise ValueError(f"Partition value {value!r} is not a string, number or boolean.")


def _where(partition: Mapping[str, PartitionValue]) -> Statement:
    if not partition:
        return "", []
    conditions = " AND ".join(f"{Identifier(column).sql} = ?" for column in partition)
    return f" WHERE {conditions}", list(partition.values())


def delete_rows(table: ObjectName, partition: Mapping[str, PartitionValue]) -> Statement:
    """Delete one partition's rows, or every row when ``partition`` is empty.

    >>> delete_rows(ObjectName.parse("DB.SC.T"), {"DS": "2024-01-01"})
    ('DELETE FROM DB.SC.T WHERE DS = ?', ['2024-01-01'])
    """
    where, params = _where(partition)
    return f"DELETE FROM {table.sql}{where}", params


def set_columns(table: ObjectName, values: Mapping[str, PartitionValue]) -> Statement:
    """Fill the partition columns of every row of a staging table.

    >>> set_columns(ObjectName.parse("DB.SC.TMP"), {"DS": "2024-01-01", "REGION": "EU"})
    ('UPDATE DB.SC.TMP SET DS = ?, REGION = ?', ['2024-01-01', 'EU'])
    """
    assignments = ", ".join(f"{Identifier(column).sql} = ?" for column in values)
    return f"UPDATE {table.sql} SET {assignments}", list(values.values())


def insert_from(
    target: ObjectName, source: ObjectName, columns: Mapping[Identifier, Identifier] | None = None
) -> Statement:
    """Copy every row of ``source`` into ``target``; with ``columns`` (source column → target column,
    the target's exact spelling), by column name.

    >>> insert_from(
    ...     ObjectName.parse("DB.SC.T"), ObjectName.parse("DB.SC.TMP"), {Identifier("A"): Identifier("a")}
    ... )
    ('INSERT INTO DB.SC.T ("a") SELECT A FROM DB.SC.TMP', [])
    """
    if columns is None:
        return f"INSERT INTO {target.sql} SELECT * FROM {source.sql}", []
    into = ", ".join(c.sql for c in columns.values())
    names = ", ".join(c.sql for c in columns)
    return f"INSERT INTO {target.sql} ({into}) SELECT {names} FROM {source.sql}", []


def create_parquet_format(file_format: ObjectName) -> Statement:
    """The named file format ``INFER_SCHEMA`` requires (it takes no inline format)."""
    return f"CREATE FILE FORMAT IF NOT EXISTS {file_format.sql} TYPE = PARQUET", []


def parquet_columns(location: StageLocation, file_format: ObjectName, files: Iterable[str]) -> Statement:
    """The columns and types of the Parquet ``files`` at ``location``, named as the created table names them."""
    return f"SELECT COLUMN_NAME, TYPE FROM TABLE({_infer_schema(location, file_format, files)})", []


# INFER_SCHEMA's FILES takes at most 1,000 names (its reference page).
INFER_SCHEMA_MAX_FILES = 1000


def _infer_schema(location: StageLocation, file_format: ObjectName, files: Iterable[str]) -> str:
    """``INFER_SCHEMA`` over the named files (relative to ``location``): it has no pattern, and would
    otherwise read every file there, the 0-byte ``_SUCCESS`` marker too, and fail on it.

    Only the first :data:`INFER_SCHEMA_MAX_FILES` files are named: the files of one job folder are
    written by one job with one schema, and the load itself (``COPY ... PATTERN``) reads them all.
    """
    names = ", ".join(quote_string(name) for name in list(files)[:INFER_SCHEMA_MAX_FILES])
    if not names:
        raise ValueError(f"No Parquet files at {location.sql} to take the table's columns from.")
    return (
        f"INFER_SCHEMA(LOCATION => {quote_string(location.sql)}, "
        f"FILE_FORMAT => {quote_string(file_format.sql)}, FILES => ({names}), IGNORE_CASE => TRUE)"
    )


def create_table_from_parquet(
    table: ObjectName, location: StageLocation, file_format: ObjectName, files: Iterable[str]
) -> Statement:
    """Create ``table`` with the columns of the Parquet ``files`` at ``location``, unless it exists.

    >>> create_table_from_parquet(
    ...     ObjectName.parse("DB.SC.T"), StageLocation.parse("@DB.SC.OUT/J/"), ObjectName.parse("DB.SC.PQ"), ["a.parquet"]
    ... )[0].split("FROM TABLE")[1]
    "(INFER_SCHEMA(LOCATION => '@DB.SC.OUT/J/', FILE_FORMAT => 'DB.SC.PQ', FILES => ('a.parquet'), IGNORE_CASE => TRUE)))"
    """
    infer = _infer_schema(location, file_format, files)
    return (
        f"CREATE TABLE IF NOT EXISTS {table.sql} USING TEMPLATE "
        f"(SELECT ARRAY_AGG(OBJECT_CONSTRUCT(*)) WITHIN GROUP (ORDER BY ORDER_ID) FROM TABLE({infer}))",
        [],
    )


def copy_parquet(
    table: ObjectName, location: StageLocation, file_format: ObjectName, *, force: bool
) -> Statement:
    """Load the Parquet files at ``location`` by column name.

    ``force=False`` uses the table's load history, so files loaded before are skipped.
    """
    return (
        f"COPY INTO {table.sql} FROM {location.sql} FILE_FORMAT = (FORMAT_NAME = {file_format.sql}) "
        f"MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE PATTERN = {_PARQUET_PATTERN} "
        f"FORCE = {'TRUE' if force else 'FALSE'}",
        [],
    )


def hash_input(source: str) -> Statement:
    """The rows of ``source`` (a table name, or a parenthesised query) and their ``HASH_AGG(*)``.

    ``HASH_AGG`` is Snowflake's order-independent, NULL-aware 64-bit aggregate hash of whole rows
    (https://docs.snowflake.com/en/sql-reference/functions/hash_agg), computed in one scan where the
    rows are: no row leaves the warehouse.

    >>> hash_input("DB.SC.T")
    ('SELECT HASH_AGG(*), COUNT(*) FROM DB.SC.T AS INPUT_ROWS', [])
    """
    return f"SELECT HASH_AGG(*), COUNT(*) FROM {source} AS INPUT_ROWS", []


# The scoring-runs table (inference/fingerprint.py SCORING_RUNS_TABLE): types both Snowflake and DuckDB
# accept, so the local backend runs the same statements with its own rendering of the table name.
SCORING_RUN_COLUMNS: tuple[tuple[str, str], ...] = (
    ("TARGET", "VARCHAR"),
    ("PARTITION_KEY", "VARCHAR"),
    ("FINGERPRINT", "VARCHAR"),
    ("MODEL", "VARCHAR"),
    ("MODEL_VERSION", "VARCHAR"),
    ("INPUT_ROWS", "BIGINT"),
    ("DETAILS", "VARCHAR"),
    ("JOB_ID", "VARCHAR"),
    ("RECORDED_AT", "VARCHAR"),
)
_RUN_NAMES = ", ".join(name for name, _ in SCORING_RUN_COLUMNS)
_RUN_KEY = "TARGET = ? AND PARTITION_KEY = ?"


def create_scoring_runs(table: str) -> Statement:
    """``table``: an ``ObjectName`` rendering (``.sql`` on Snowflake, ``.quoted`` on DuckDB)."""
    columns = ", ".join(f"{name} {sql_type}" for name, sql_type in SCORING_RUN_COLUMNS)
    return f"CREATE TABLE IF NOT EXISTS {table} ({columns})", []


def select_scoring_run(table: str, target: str, partition: str) -> Statement:
    """
    >>> select_scoring_run("DB.SC.R", "DB.SC.T", "{}")[0]
    'SELECT TARGET, PARTITION_KEY, FINGERPRINT, MODEL, MODEL_VERSION, INPUT_ROWS, DETAILS, JOB_ID, RECORDED_AT FROM DB.SC.R WHERE TARGET = ? AND PARTITION_KEY = ?'
    """
    return f"SELECT {_RUN_NAMES} FROM {table} WHERE {_RUN_KEY}", [target, partition]


def delete_scoring_runs(table: str, target: str, partitions: Sequence[str]) -> Statement:
    """One statement for every partition a write replaces (its own and, for a partition, the table's).

    >>> delete_scoring_runs("DB.SC.R", "DB.SC.T", ["{}", '{"DS":"2024-06-01"}'])
    ('DELETE FROM DB.SC.R WHERE TARGET = ? AND PARTITION_KEY IN (?, ?)', ['DB.SC.T', '{}', '{"DS":"2024-06-01"}'])
    """
    marks = ", ".join("?" for _ in partitions)
    return f"DELETE FROM {table} WHERE TARGET = ? AND PARTITION_KEY IN ({marks})", [target, *partitions]


def insert_scoring_run(table: str, values: Iterable[Any]) -> Statement:
    marks = ", ".join("?" for _ in SCORING_RUN_COLUMNS)
    return f"INSERT INTO {table} ({_RUN_NAMES}) VALUES ({marks})", list(values)


def show_warehouses() -> Statement:
    """Every warehouse the role sees; the session's own has ``is_current`` = ``Y`` and its ``size``."""
    return "SHOW WAREHOUSES", []


def job_history(job: ObjectName) -> Statement:
    """The job's latest ``GET_JOB_HISTORY`` row: its created and completed times and compute pool
    (https://docs.snowflake.com/en/sql-reference/functions/get_job_history; dropped jobs included).

    >>> job_history(ObjectName.parse("DB.SC.JOB_1"))[1]
    ['DB', 'SC', 'JOB_1']
    """
    assert job.database is not None and job.schema is not None  # job ids are fully qualified
    return (
        "SELECT CREATED_TIME, COMPLETED_TIME, COMPUTE_POOL_NAME "
        "FROM TABLE(SNOWFLAKE.SPCS.GET_JOB_HISTORY()) "
        "WHERE DATABASE_NAME = ? AND SCHEMA_NAME = ? AND NAME = ? ORDER BY CREATED_TIME DESC LIMIT 1",
        [job.database.value, job.schema.value, job.name.value],
    )


def show_compute_pools(pool: Identifier) -> Statement:
    """``SHOW COMPUTE POOLS`` narrowed to one pool: its ``instance_family`` column names the node type.

    >>> show_compute_pools(Identifier("POOL"))
    ("SHOW COMPUTE POOLS LIKE 'POOL'", [])
    """
    return f"SHOW COMPUTE POOLS LIKE {like_pattern(pool)}", []
