"""The local backend: :class:`~airflow_snowflake_batch.backends.base.InferenceBackend` on a workspace folder.

The hook does every check (names, signatures, stages, re-attach decisions); this class performs the
primitives on DuckDB files, stage folders, the local registry and detached job processes.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from airflow_snowflake_batch.backends import snowflake_sql as sql
from airflow_snowflake_batch.backends.base import (
    TEMPORARY_INPUT_FOLDER,
    BatchJobSpec,
    Column,
    FileInput,
    InputCounts,
    InputDigest,
    InputSource,
    JobInfo,
    JobProgress,
    JobUsage,
    LoadResultsRequest,
    ModelVersionRef,
    StageFile,
    StageInfo,
    WarehouseInferenceRequest,
    subquery,
)
from airflow_snowflake_batch.backends.local import database, jobs, stages
from airflow_snowflake_batch.backends.local.layout import Layout, identifier_of, read_json, write_json_atomic
from airflow_snowflake_batch.backends.local.registry import LocalRegistry, load_function
from airflow_snowflake_batch.exceptions import BatchJobError, InputValidationError
from airflow_snowflake_batch.identifiers import Identifier, ObjectName, StageLocation
from airflow_snowflake_batch.job_status import BatchJobStatus, JobState

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.models import Connection

    from airflow_snowflake_batch.inference.fingerprint import ScoringRun

log = logging.getLogger(__name__)

# Rows per model call when the job spec gives no max_batch_rows, and for warehouse inference: large
# enough that the per-call overhead (Arrow to pandas, dtype casts) stays small against predict itself.
DEFAULT_BATCH_ROWS = 32_768
WAREHOUSE_BATCH_ROWS = 32_768


class LocalBackend:
    """Snowflake primitives on a local workspace folder.

    :param root: The workspace folder (see :class:`airflow_snowflake_batch.local.LocalWorkspace`).
    :param database: Database for unqualified names.
    :param schema: Schema for unqualified names.
    """

    def __init__(
        self, root: str | Path, *, database: str | None = "ML", schema: str | None = "PUBLIC"
    ) -> None:
        self.layout = Layout.at(root)
        if not self.layout.root.is_dir():
            raise FileNotFoundError(
                f"Local workspace {self.layout.root} does not exist; create it with LocalWorkspace({str(root)!r})."
            )
        self.default_database: Identifier | None = (
            Identifier.parse(database, what="database") if database else None
        )
        self.default_schema: Identifier | None = Identifier.parse(schema, what="schema") if schema else None
        self.registry = LocalRegistry(self.layout)

    @classmethod
    def from_connection(
        cls, conn: Connection, *, database: str | None = None, schema: str | None = None
    ) -> LocalBackend:
        """The backend of a ``snowflake_batch_local`` connection; ``database``/``schema`` override its extra."""
        extra = conn.extra_dejson

        def field(name: str) -> Any:
            # Older connection forms stored their fields as extra__<conn type>__<name>.
            return extra.get(name) or extra.get(f"extra__{conn.conn_type}__{name}") or None

        root = field("workspace")
        if not root:
            raise ValueError(
                f"Connection {conn.conn_id!r} of type snowflake_batch_local has no 'workspace' in its extra; "
                "use LocalWorkspace(...).connection_uri() as its value."
            )
        return cls(root, database=database or field("database"), schema=schema or field("schema"))

    def _connect(self, *, create: tuple[Identifier, ...] = ()) -> Any:
        return database.connect(self.layout, self.default_database, self.default_schema, create=create)

    # -- registry --------------------------------------------------------------------------------

    def get_model_version(self, model: ObjectName, version: str | None) -> ModelVersionRef:
        return self.registry.resolve(model, version)

    # -- catalog ---------------------------------------------------------------------------------

    def describe_input(self, source: InputSource) -> list[Column]:
        with self._connect() as con:
            if source.table is not None:
                if source.table.database not in self.layout.databases() or not database.table_exists(
                    con, source.table
                ):
                    raise InputValidationError(f"Input table {source.table.sql} does not exist.")
                return database.table_columns(con, source.table)
            if source.query is None:
                raise InputValidationError("Only a table or a query can be described, not a stage location.")
            try:
                return database.describe_query(con, source.query)
            except duckdb.Error as exc:
                raise InputValidationError(
                    f"input_query cannot run in the local workspace ({type(exc).__name__}: {exc}). Check "
                    "the tables and columns it names exist, and that it reads only tables of the workspace."
                ) from exc

    def count_input(self, source: InputSource, null_columns: list[str]) -> InputCounts:
        counts = "".join(f", count_if({Identifier(c).quoted} IS NULL)" for c in null_columns)
        with self._connect() as con:
            row = con.execute(
                f"SELECT count(*){counts} FROM {subquery(self._input_query(source))}"
            ).fetchone()
        rows, *nulls = row or (0, *([0] * len(null_columns)))
        # DuckDB's count_if over no row is NULL (Snowflake's COUNT_IF is 0).
        return InputCounts(
            rows=int(rows or 0),
            nulls={column: int(count or 0) for column, count in zip(null_columns, nulls, strict=True)},
        )

    def hash_input(self, source: InputSource) -> InputDigest:
        from airflow_snowflake_batch.inference.fingerprint import wrap_hash

        # DuckDB has no HASH_AGG: the sum of its 64-bit hash() of each whole row (a STRUCT, NULL-aware,
        # column order included) is order-independent like HASH_AGG, wrapped to a signed 64-bit number.
        with self._connect() as con:
            row = con.execute(
                "SELECT CAST(sum(hash(input_rows)) AS VARCHAR), count(*) "
                f"FROM {subquery(self._input_query(source))} AS input_rows"
            ).fetchone()
        total, rows = row or (None, 0)
        return InputDigest(kind="rows", count=int(rows or 0), hash=f"hash_agg:{wrap_hash(total)}")

    def read_scoring_run(self, table: ObjectName, target: str, partition: str) -> ScoringRun | None:
        from airflow_snowflake_batch.inference.fingerprint import ScoringRun

        if not self.table_exists(table):
            return None
        with self._connect() as con:
            text, params = sql.select_scoring_run(table.quoted, target, partition)
            rows = con.execute(text, params).fetchall()
        # Two records of one output (two writers raced): neither may vouch for the rows, so none does.
        return ScoringRun.from_row(rows[0]) if len(rows) == 1 else None

    def delete_scoring_runs(self, table: ObjectName, target: str, partitions: Sequence[str]) -> None:
        if not self.table_exists(table):
            return  # a missing table holds no record to delete
        with self._connect() as con:
            con.execute(*sql.delete_scoring_runs(table.quoted, target, partitions))

    def add_scoring_run(self, table: ObjectName, run: ScoringRun) -> None:
        with self._connect(create=(table.database,)) as con:  # type: ignore[arg-type]
            database.ensure_schema(con, table.database, table.schema)  # type: ignore[arg-type]
            con.execute(sql.create_scoring_runs(table.quoted)[0])
            con.execute(*sql.insert_scoring_run(table.quoted, run.row()))

    def warehouse_size(self) -> str | None:
        return None  # no warehouse: the worker's own wall and CPU seconds are the cost

    def table_exists(self, table: ObjectName) -> bool:
        if table.database not in self.layout.databases():
            return False
        with self._connect() as con:
            return database.table_exists(con, table)

    def describe_stage(self, stage: ObjectName) -> StageInfo | None:
        return stages.describe_stage(self.layout, stage)

    def list_files(self, location: StageLocation) -> list[str]:
        return stages.list_files(self.layout, location)

    def list_file_details(self, location: StageLocation) -> list[StageFile]:
        return stages.list_file_details(self.layout, location)

    def remove_files(self, location: StageLocation) -> None:
        stages.remove_files(self.layout, location)

    # -- warehouse inference ---------------------------------------------------------------------

    def run_warehouse_inference(self, request: WarehouseInferenceRequest) -> int:
        """Export the input, score it in batches with no connection open, then load it atomically."""
        import pyarrow.parquet as pq

        # The scoring stack (pandas, numpy) is imported by the work that scores, not by every task
        # that only submits a job, lists files or loads results.
        from airflow_snowflake_batch.backends.local.scoring import (
            map_features,
            output_column_names,
            parquet_writer,
            score_batch,
            scored_schema,
        )

        _refuse_partitioned(
            request.function.name, request.function.is_partitioned or bool(request.partition_column)
        )
        scratch = self.layout.scratch_dir()
        try:
            exported = scratch / "input.parquet"
            with self._connect() as con:
                database.export_parquet(con, self._input_query(request.source), exported)
            function = load_function(
                self.registry.version_dir(request.model.model, request.model.version),
                request.function.target_method,
            )
            params = function.resolve_params(request.params)
            parquet = pq.ParquetFile(exported)
            columns, _ = map_features(
                function.input_names, parquet.schema_arrow.names, where=request.source.description
            )
            names = output_column_names(function)
            scored = scratch / "scored.parquet"
            writer = None
            try:
                for batch in parquet.iter_batches(batch_size=WAREHOUSE_BATCH_ROWS):
                    table = score_batch(
                        batch, function, feature_columns=columns, output_names=names, params=params
                    )
                    writer = writer or parquet_writer(scored, table.schema)
                    writer.write_table(table)
            finally:
                if writer is not None:
                    writer.close()
                parquet.close()
            if writer is None:  # an empty input still creates the table, with the outputs' columns
                pq.write_table(scored_schema(parquet.schema_arrow, function, names).empty_table(), scored)
            with self._connect(create=(request.output_table.database,)) as con:  # type: ignore[arg-type]
                return database.insert_files(
                    con,
                    request.output_table,
                    [scored],
                    mode=request.mode,
                    partition=request.partition,
                    upper_case_new_columns=False,
                    skip_loaded=False,
                )
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    @staticmethod
    def _input_query(source: InputSource) -> str:
        if source.table is not None:
            return f"SELECT * FROM {source.table.quoted}"
        if source.query is None:
            raise InputValidationError("Warehouse inference reads a table or a query, not a stage location.")
        return source.query

    # -- batch jobs ------------------------------------------------------------------------------

    def _job_dir(self, job_id: str) -> Path:
        name = ObjectName.parse(job_id, what="job id")
        return self.layout.job_dir(name.qualify(self.default_database, self.default_schema))

    def submit_job(self, spec: BatchJobSpec) -> str:
        """Prepare the input, then start the detached job process; return the job id at once."""
        _refuse_partitioned(spec.function.name, spec.function.is_partitioned or bool(spec.partition_column))
        job_id = spec.job_name.sql
        job_dir = self.layout.job_dir(spec.job_name)
        if (job_dir / jobs.JOB_FILE).exists():
            raise BatchJobError(
                f"Batch inference job {job_id} already exists; drop it before reusing its name."
            )
        # The hook has checked the output stage and the save mode (the same checks for both backends).
        output = spec.job_output_location
        if spec.save_mode == "overwrite":
            self.remove_files(output)
        batch_rows = spec.max_batch_rows or DEFAULT_BATCH_ROWS

        # A folder without a status is an earlier submission of this name killed half-way.
        jobs.discard(job_dir, self.layout)
        scratch: Path | None = None
        if spec.source.stage_location is None:
            scratch_location = spec.output_location.child(TEMPORARY_INPUT_FOLDER).child(uuid.uuid4().hex)
            scratch = self.layout.location_dir(scratch_location)
        # Recorded before anything is written: a SIGKILL from here on leaves a folder that the next
        # try's drop_job (see the hook's start_batch_job) removes with its scratch input. The
        # ``except`` below covers only exceptions, not a kill.
        jobs.begin_submission(job_dir, scratch)
        version_dir = str(self.registry.version_dir(spec.model.model, spec.model.version))
        try:
            # The job process imports its libraries and loads the model (about a second) while the
            # input is exported below; it starts scoring once job.json exists.
            jobs.prepare(
                job_dir,
                workspace=self.layout.root,
                version_dir=version_dir,
                target_method=spec.function.target_method,
            )
            if spec.source.stage_location is not None:
                stages.require_stage(self.layout, spec.source.stage_location)
                input_dir = self.layout.location_dir(spec.source.stage_location)
            else:
                assert scratch is not None
                input_dir = scratch
                if spec.source.files is not None:
                    _write_file_rows(spec.source.files, input_dir / "data_0.parquet")
                else:
                    with self._connect() as con:
                        database.export_parquet(
                            con, self._input_query(spec.source), input_dir / "data_0.parquet"
                        )
            # PENDING before job.json: the job process, waiting for job.json, then writes RUNNING.
            jobs.write_status(job_dir, BatchJobStatus.PENDING, "Submitted.")
            jobs.log_line(job_dir, f"Submitted {job_id}; results go to {output.sql}.")
            write_json_atomic(
                job_dir / jobs.JOB_FILE,
                {
                    "job_id": job_id,
                    "workspace": str(self.layout.root),
                    "database": spec.job_name.database.value,  # type: ignore[union-attr]
                    "schema": spec.job_name.schema.value,  # type: ignore[union-attr]
                    "version_dir": version_dir,
                    "target_method": spec.function.target_method,
                    "input_dir": str(input_dir),
                    "scratch_input": str(scratch) if scratch else None,
                    "output_dir": str(self.layout.location_dir(output)),
                    "max_batch_rows": batch_rows,
                    "processes": (spec.replicas or 1) * (spec.num_workers or 1),
                    "params": spec.params,
                    "column_handling": spec.column_handling,
                },
            )
            jobs.end_submission(job_dir)
        except BaseException:
            jobs.stop_process(job_dir)
            jobs.discard(job_dir, self.layout)
            raise
        return job_id

    def get_job_state(self, job_id: str) -> JobState | None:
        return jobs.state(job_id, self._job_dir(job_id))

    def get_job_states(self, job_ids: Sequence[str]) -> dict[str, JobState | None]:
        """Each job's record, read from its folder (no connection is opened)."""
        return {job_id: self.get_job_state(job_id) for job_id in job_ids}

    def cancel_job(self, job_id: str) -> None:
        job_dir = self._job_dir(job_id)
        if jobs.state(job_id, job_dir) is None:
            raise BatchJobError(f"Batch inference job {job_id} does not exist.")
        jobs.cancel(job_id, job_dir, self.layout)

    def get_job_logs(self, job_id: str) -> str:
        return jobs.logs(self._job_dir(job_id))

    def get_job_usage(self, job_id: str) -> JobUsage:
        """The job process's own measure (``usage.json``): wall and CPU seconds, its workers included."""
        try:
            usage = read_json(self._job_dir(job_id) / jobs.USAGE_FILE)
        except (OSError, ValueError):
            return JobUsage(source="the local job recorded no usage (it did not finish)")
        return JobUsage(
            wall_seconds=float(usage["wall_seconds"]),
            cpu_seconds=float(usage["cpu_seconds"]),
            source="measured by the local job process (its workers included)",
        )

    def get_job_progress(self, job_id: str, output_location: StageLocation) -> JobProgress | None:
        """The rows the job's workers recorded so far, of the rows its input holds (one folder read)."""
        progress = jobs.read_progress(self._job_dir(job_id))
        return None if progress is None else JobProgress(done=progress[0], total=progress[1], unit="rows")

    def drop_job(self, job_id: str) -> None:
        """``DROP SERVICE IF EXISTS``: stop the job if it runs, then forget it (its output stays).

        Also removes what a submission of this name killed half-way left: its folder and the copy
        of its input under ``_snowflake_temporary/``.
        """
        job_dir = self._job_dir(job_id)
        if jobs.state(job_id, job_dir) is not None:
            jobs.cancel(job_id, job_dir, self.layout)
        jobs.discard(job_dir, self.layout)

    def list_jobs(self, database: Identifier, schema: Identifier) -> list[JobInfo]:
        """The schema's job records; a job's creation time is when its ``job.json`` was written.

        Only reads: a job whose process is gone is reported INTERNAL_ERROR without that verdict being
        written (the cleanup lists jobs in a dry run too). A record that is a symlink is skipped with
        a warning, wherever it points: job folders are made by submit, never linked.
        """
        folder = self.layout.confine(self.layout.schema_jobs_dir(database, schema))
        found = []
        for entry in sorted(folder.iterdir()) if folder.is_dir() else ():
            if entry.is_symlink():
                log.warning("Skipping job record %s: it is a symlink (to %s).", entry, os.readlink(entry))
                continue
            job_dir = self.layout.confine(entry)
            name = identifier_of(job_dir.name)
            job_id = ObjectName(name=name, schema=schema, database=database).sql
            state = jobs.state(job_id, job_dir, write=False)
            if state is None:  # a folder without a job record (a submit that failed half-way)
                continue
            created = datetime.fromtimestamp((job_dir / jobs.JOB_FILE).stat().st_mtime, tz=timezone.utc)
            found.append(JobInfo(job_id=job_id, name=name.value, status=state.status, created_on=created))
        return found

    # -- results ---------------------------------------------------------------------------------

    def job_url(self, job_id: str, output_location: StageLocation) -> str:
        return self.layout.location_dir(output_location).as_uri()

    def load_results(self, request: LoadResultsRequest) -> int:
        folder = self.layout.location_dir(request.location)
        files = [folder / f for f in request.parquet_files]
        with self._connect(create=(request.target_table.database,)) as con:  # type: ignore[arg-type]
            return database.insert_files(
                con,
                request.target_table,
                files,
                mode=request.mode,
                partition=request.partition,
                upper_case_new_columns=True,
                skip_loaded=True,
                create_if_missing=request.create_table_if_missing,
            )

    def close(self) -> None:
        """Nothing to release: connections are opened per operation."""


def _write_file_rows(files: FileInput, target: Path) -> None:
    """The input of a folder of files: one row per file, its full stage path in the file column."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    target.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table({files.column: pa.array(files.paths, type=pa.string())})
    pq.write_table(table, target, row_group_size=database.EXPORT_ROW_GROUP_ROWS)


def _refuse_partitioned(function: str, partitioned: bool) -> None:
    if partitioned:
        raise InputValidationError(
            f"Function {function} is partitioned (or a partition_column was given): partitioned inference "
            "is not supported by the local backend. Test it on Snowflake, or log a non-partitioned method."
        )
