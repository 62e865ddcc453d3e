"""The contract between :class:`SnowflakeBatchInferenceHook` and the account it talks to.

The hook runs the logic (name resolution, and the checks and re-attach decisions of
:mod:`airflow_snowflake_batch.inference`); a backend only performs primitive operations. There are two
backends: Snowflake (``backends/snowflake.py``, Snowpark + snowflake-ml) and the embedded local workspace
(``backends/local/``, DuckDB + folders). Because no check lives in a backend, the same bad input gets
the same error on both.

The value objects below carry only plain Python data, so nothing here imports snowflake-ml.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from airflow_snowflake_batch.exceptions import StageValidationError
    from airflow_snowflake_batch.identifiers import Identifier, ObjectName, StageLocation
    from airflow_snowflake_batch.job_status import BatchJobStatus, JobState

SaveMode = Literal["error", "overwrite"]
TableMode = Literal["overwrite", "append"]
PartitionValue = str | int | float | bool
#: Where Snowflake copies a table or query input of a batch job, under the output location
#: (``<output>/_snowflake_temporary/<id>/``, snowflake-ml's service_ops.py); the local backend does the same.
TEMPORARY_INPUT_FOLDER = "_snowflake_temporary"


def subquery(query: str) -> str:
    """A user's ``input_query`` as a parenthesised subquery, for every statement that wraps it.

    The closing parenthesis goes on a line of its own: a query ending in a line comment
    (``SELECT ... -- daily extract``) would otherwise comment it out.

    >>> subquery("SELECT 1 -- note")
    '(SELECT 1 -- note\\n)'
    """
    return f"({query}\n)"


def missing_stage_error(location: StageLocation) -> StageValidationError:
    """The error of a location whose stage does not exist, the same on both backends.

    Names the argument the location came from when the hook parsed it (``StageLocation.what``).
    """
    from airflow_snowflake_batch.exceptions import StageValidationError

    argument = f"{location.what} " if location.what else ""
    return StageValidationError(
        f"{argument}{location.sql}: stage {location.stage.sql} does not exist or is not authorized. "
        f"Create it (CREATE STAGE {location.stage.sql} ENCRYPTION = (TYPE = 'SNOWFLAKE_SSE')) or fix the name."
    )


@dataclass(frozen=True)
class Feature:
    """One input or output of a model function, as in snowflake-ml's ``FeatureSpec.to_dict()``.

    ``dtype`` is a ``snowflake.ml.model.model_signature.DataType`` name (``DOUBLE``, ``INT64``,
    ``STRING``...); ``shape`` is set for array-valued features.
    """

    name: str
    dtype: str
    nullable: bool = True
    shape: tuple[int, ...] | None = None


def output_column(name: str) -> str:
    """The table column of a model output, on both backends and both paths (docs/howto/warehouse.rst,
    "Output column names").

    Snowflake's own spelling varies: ``run()`` keeps ``output_feature_0`` when the inputs matched the
    signature exactly and upper-cases it otherwise, and a load through ``INFER_SCHEMA(IGNORE_CASE =>
    TRUE)`` upper-cases it. Tables written by this provider always use the upper-case form of a name
    that is a plain identifier; other names (spaces, dashes...) are kept as they are.

    >>> output_column("output_feature_0"), output_column("Prob Class 1")
    ('OUTPUT_FEATURE_0', 'Prob Class 1')
    """
    return name.upper() if _PLAIN_NAME.fullmatch(name) else name


_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")


@dataclass(frozen=True)
class Param:
    """A named inference parameter of a model function (``ParamSpec`` or ``ParamGroupSpec``).

    ``spec`` is the ``to_dict()`` form snowflake-ml rebuilds the spec from, so params are checked by
    snowflake-ml's own rules (types, shapes, nested groups such as the chat ``response_format``).
    """

    name: str
    dtype: str
    default: Any = None
    spec: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


def param_from_spec(spec: dict[str, Any]) -> Param:
    """A ``Param`` from ``ParamSpec.to_dict()`` or ``ParamGroupSpec.to_dict()``.

    A group (e.g. the chat signature's ``response_format``) has no ``dtype``: it is one OBJECT.
    """
    return Param(
        name=spec["name"],
        dtype=spec.get("dtype") or "OBJECT",
        default=spec.get("default_value"),
        spec=dict(spec),
    )


@dataclass(frozen=True)
class ModelFunction:
    """One function of a model version (``ModelVersion.show_functions()`` entry)."""

    name: str  # as Snowflake names it, e.g. PREDICT_PROBA
    target_method: str  # the Python method, e.g. predict_proba
    function_type: str  # FUNCTION or TABLE_FUNCTION
    inputs: tuple[Feature, ...]
    outputs: tuple[Feature, ...]
    params: tuple[Param, ...] = ()
    is_partitioned: bool = False


@dataclass(frozen=True)
class ModelVersionRef:
    """A resolved model version: aliases and the default are already turned into a version name."""

    model: ObjectName  # fully qualified
    version: Identifier
    functions: tuple[ModelFunction, ...]

    @property
    def display(self) -> str:
        return f"{self.model.sql} version {self.version.sql}"


@dataclass(frozen=True)
class Column:
    """A column of an input table or query: name as stored, and its SQL type as the backend reports it."""

    name: str
    sql_type: str


@dataclass(frozen=True)
class StageInfo:
    """What the hook needs to know about a stage."""

    name: ObjectName
    is_internal: bool
    encryption: str | None  # SNOWFLAKE_SSE, SNOWFLAKE_FULL, or None for external stages


@dataclass(frozen=True)
class StageFile:
    """A file listed under a stage location (``LIST``), with when it was last written (UTC)."""

    path: str  # relative to the listed location
    last_modified: datetime
    size: int | None = None  # bytes, as LIST reports them
    md5: str | None = None  # LIST's md5 column (Snowflake); None where the listing has none (local)


@dataclass(frozen=True)
class JobInfo:
    """A job service of a schema (``SHOW JOB SERVICES``), for retention decisions."""

    job_id: str  # DB.SCHEMA.NAME
    name: str  # the stored name: also the name of the job's output folder
    status: BatchJobStatus
    created_on: datetime  # timezone-aware


@dataclass(frozen=True)
class JobUsage:
    """What a finished batch job used, as the backend can read it (:func:`~airflow_snowflake_batch.utils.cost.batch_job_cost`).

    Local: ``wall_seconds`` and ``cpu_seconds`` the job process measured itself (its workers included).
    Snowflake: ``wall_seconds`` from ``GET_JOB_HISTORY``'s ``CREATED_TIME`` to ``COMPLETED_TIME``, the
    job's ``compute_pool`` and that pool's ``instance_family`` (``SHOW COMPUTE POOLS``); any of them None
    when it cannot be read (a missing privilege, a dropped pool).
    """

    wall_seconds: float | None = None
    cpu_seconds: float | None = None
    compute_pool: str | None = None
    instance_family: str | None = None
    source: str = ""


@dataclass(frozen=True)
class JobProgress:
    """How far a running job got: ``done`` of ``total`` (None: unknown) ``unit`` (``rows`` or ``files``)."""

    done: int
    total: int | None
    unit: str


@dataclass(frozen=True)
class FileInput:
    """A folder of files scored directly: one input row per file, its full stage path in ``column``.

    The hook lists the folder and fills ``paths`` (full stage paths, sorted) before submitting.
    """

    location: StageLocation
    pattern: str | None = None
    column: str = ""
    paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class InputCounts:
    """What one scan of an input counts: its rows and the NULLs of some of its columns."""

    rows: int
    nulls: dict[str, int]


@dataclass(frozen=True)
class InputDigest:
    """What an input held when a run fingerprinted it (:mod:`airflow_snowflake_batch.inference.fingerprint`).

    ``kind`` ``rows``: ``count`` rows whose order-independent aggregate hash is ``hash``
    (``hash_agg:<signed 64-bit number>``); ``files``: ``count`` files whose listing hashes to ``hash``.
    """

    kind: Literal["rows", "files"]
    count: int
    hash: str


@dataclass(frozen=True)
class ScoringRun:
    """One row of the scoring-runs table (:mod:`airflow_snowflake_batch.inference.fingerprint`): what last
    scored an output, and when.

    :param target: The output: a table (``DB.SC.T``) or a batch job's folder (``@DB.SC.STAGE/p/JOB/``).
    :param partition: ``partition_key`` of the rows the run replaced (``{}`` for a job folder).
    :param fingerprint: the fingerprint (``Fingerprint.value``).
    :param model: The model, fully qualified.
    :param model_version: The version the registry resolved.
    :param input_rows: Input rows (or files) scored.
    :param details: The fingerprint's parts as canonical JSON, for a person to read.
    :param job_id: The batch job, or empty for a warehouse run.
    :param recorded_at: When the record was written (ISO 8601, UTC).
    """

    target: str
    partition: str
    fingerprint: str
    model: str
    model_version: str
    input_rows: int
    details: str
    job_id: str = ""
    recorded_at: str = field(default_factory=lambda: _now().isoformat(timespec="seconds"))

    def row(self) -> tuple[Any, ...]:
        """The values in the table's column order (TARGET, PARTITION_KEY, FINGERPRINT, MODEL,
        MODEL_VERSION, INPUT_ROWS, DETAILS, JOB_ID, RECORDED_AT)."""
        return (
            self.target,
            self.partition,
            self.fingerprint,
            self.model,
            self.model_version,
            self.input_rows,
            self.details,
            self.job_id,
            self.recorded_at,
        )

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> ScoringRun:
        """A record read back, in :meth:`row`'s order."""
        values = [("" if v is None else v) for v in row]
        return cls(
            target=str(values[0]),
            partition=str(values[1]),
            fingerprint=str(values[2]),
            model=str(values[3]),
            model_version=str(values[4]),
            input_rows=int(values[5] or 0),
            details=str(values[6]),
            job_id=str(values[7]),
            recorded_at=str(values[8]),
        )


def _now() -> datetime:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class InputSource:
    """Exactly one of a table, a query, a stage location of Parquet files, or a folder of files."""

    table: ObjectName | None = None
    query: str | None = None
    stage_location: StageLocation | None = None
    files: FileInput | None = None

    def __post_init__(self) -> None:
        given = [x for x in (self.table, self.query, self.stage_location, self.files) if x is not None]
        if len(given) != 1:
            raise ValueError(
                "Exactly one of input_table, input_query, input_stage_location or input_files must be given."
            )

    @property
    def description(self) -> str:
        if self.table is not None:
            return f"input table {self.table.sql}"
        if self.stage_location is not None:
            return f"input stage location {self.stage_location.sql}"
        if self.files is not None:
            return f"input files {self.files.location.sql}"
        return "input query"


@dataclass(frozen=True)
class WarehouseInferenceRequest:
    """Everything a backend needs to run ``ModelVersion.run()`` into a table."""

    model: ModelVersionRef
    function: ModelFunction
    source: InputSource
    output_table: ObjectName
    mode: TableMode
    partition: dict[str, PartitionValue] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    partition_column: str | None = None
    strict_input_validation: bool = False


@dataclass(frozen=True)
class BatchJobSpec:
    """Everything a backend needs to submit ``ModelVersion.run_batch()``."""

    model: ModelVersionRef
    function: ModelFunction
    source: InputSource
    job_name: ObjectName  # fully qualified
    compute_pool: Identifier
    output_location: StageLocation  # the base; results go to output_location.child(job_name.name.value)
    save_mode: SaveMode = "error"
    replicas: int | None = None
    num_workers: int | None = None
    max_batch_rows: int | None = None
    cpu_requests: str | None = None
    memory_requests: str | None = None
    gpu_requests: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    column_handling: dict[str, dict[str, str]] = field(default_factory=dict)
    partition_column: str | None = None
    engine: str | None = None
    engine_args_override: tuple[str, ...] = ()
    image_repo: str | None = None
    force_rebuild: bool = False

    @property
    def job_output_location(self) -> StageLocation:
        return self.output_location.child(self.job_name.name.value)


@dataclass(frozen=True)
class LoadResultsRequest:
    """Load the Parquet files of one job folder into a table.

    ``parquet_files`` (relative to ``location``) may be empty: an empty input gives a job with
    ``_SUCCESS`` and no Parquet file, and loading it writes no row (but still replaces the partition).
    """

    location: StageLocation
    target_table: ObjectName
    mode: TableMode
    partition: dict[str, PartitionValue] = field(default_factory=dict)
    create_table_if_missing: bool = True
    parquet_files: tuple[str, ...] = ()


class InferenceBackend(Protocol):
    """Primitive operations on one account (Snowflake or a local workspace).

    Implementations keep one session/connection for their lifetime and release it in :meth:`close`.
    """

    default_database: Identifier | None
    default_schema: Identifier | None

    # Registry
    def get_model_version(self, model: ObjectName, version: str | None) -> ModelVersionRef:
        """Resolve ``version`` (a name, an alias, or None for the model's default)."""

    # Catalog
    def describe_input(self, source: InputSource) -> list[Column]:
        """The columns of an input table or query (not a stage location)."""

    def count_input(self, source: InputSource, null_columns: list[str]) -> InputCounts:
        """The rows of a table or query, and the NULLs in each of ``null_columns`` (stored names), in one scan."""

    def hash_input(self, source: InputSource) -> InputDigest:
        """The rows of a table or query and their order-independent 64-bit aggregate hash, in one scan
        where the rows are (Snowflake: ``HASH_AGG(*)``; local: the sum of DuckDB's ``hash()`` of each row)."""

    def read_scoring_run(self, table: ObjectName, target: str, partition: str) -> ScoringRun | None:
        """The record of ``table`` (a :data:`~airflow_snowflake_batch.inference.fingerprint.SCORING_RUNS_TABLE`)
        for an output and partition; None when the table or the row does not exist, or when two rows do."""

    def delete_scoring_runs(self, table: ObjectName, target: str, partitions: Sequence[str]) -> None:
        """Delete the records of an output's ``partitions``, in one statement; a missing table holds none."""

    def add_scoring_run(self, table: ObjectName, run: ScoringRun) -> None:
        """Add the record of ``run``, creating the table when missing; the caller deleted the record it
        replaces first (two records of one output count as none, see :meth:`read_scoring_run`)."""

    def warehouse_size(self) -> str | None:
        """The size of the session's warehouse (``SHOW WAREHOUSES``), for cost estimates; None when unknown
        (no warehouse in use, or the local backend)."""

    def table_exists(self, table: ObjectName) -> bool: ...

    def describe_stage(self, stage: ObjectName) -> StageInfo | None:
        """The stage, or None when it does not exist."""

    def list_files(self, location: StageLocation) -> list[str]:
        """Paths of the files under ``location``, relative to it, sorted."""

    def list_file_details(self, location: StageLocation) -> list[StageFile]:
        """Like :meth:`list_files`, with each file's last-modified time."""

    def remove_files(self, location: StageLocation) -> None: ...

    # Writes. Both follow the contract in docs/write_contract.rst: with a partition only its
    # rows are replaced, whatever the mode; "overwrite" without one deletes and inserts in one
    # transaction (the table object stays); columns the table lacks are added; the table is created
    # when missing.
    def run_warehouse_inference(self, request: WarehouseInferenceRequest) -> int:
        """Score server-side into the output table; return the number of rows written."""

    # Batch jobs
    def submit_job(self, spec: BatchJobSpec) -> str:
        """Submit the job and return its id (``DB.SCHEMA.NAME``)."""

    def get_job_state(self, job_id: str) -> JobState | None:
        """The job's state, or None when no job of that id exists."""

    def get_job_states(self, job_ids: Sequence[str]) -> dict[str, JobState | None]:
        """The states of several jobs (fully qualified ids), each None when no such job exists.

        What the triggerer's shared status poller calls for all the jobs it watches: the cost must not
        grow with their number (Snowflake: one ``SHOW JOB SERVICES`` per schema).
        """

    def cancel_job(self, job_id: str) -> None: ...

    def get_job_usage(self, job_id: str) -> JobUsage:
        """What the finished job used (time, CPU or compute pool); fields it cannot read are None."""

    def get_job_progress(self, job_id: str, output_location: StageLocation) -> JobProgress | None:
        """How far the running job got, with at most one cheap call (None: nothing to tell yet)."""

    def get_job_logs(self, job_id: str) -> str: ...

    def drop_job(self, job_id: str) -> None: ...

    def list_jobs(self, database: Identifier, schema: Identifier) -> list[JobInfo]:
        """The job services of a schema, with their status and creation time."""

    def job_url(self, job_id: str, output_location: StageLocation) -> str:
        """Where a person looks at the job (Snowsight page, or the local output folder)."""

    # Results
    def load_results(self, request: LoadResultsRequest) -> int:
        """Load the job folder's Parquet files into the table; return the rows loaded (0 for no file)."""

    def close(self) -> None: ...
