"""The Snowflake backend: :class:`~airflow_snowflake_batch.backends.base.InferenceBackend` on an account.

Snowpark and snowflake-ml do the work: ``Registry`` resolves models, ``ModelVersion.run()`` scores in
the warehouse, ``ModelVersion.run_batch()`` submits SPCS jobs and ``snowflake.ml.jobs`` watches them.
The SQL this module sends itself comes from :mod:`airflow_snowflake_batch.backends.snowflake_sql`.

Both libraries take seconds to import, so they are imported inside the methods that use them: Airflow
imports this package's operators at every DAG parse.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow_snowflake_batch.backends import snowflake_sql as sql
from airflow_snowflake_batch.backends.base import (
    TEMPORARY_INPUT_FOLDER,
    Column,
    Feature,
    InputCounts,
    InputDigest,
    JobInfo,
    JobProgress,
    JobUsage,
    ModelFunction,
    ModelVersionRef,
    StageFile,
    StageInfo,
    missing_stage_error,
    output_column,
    param_from_spec,
    subquery,
)
from airflow_snowflake_batch.exceptions import ModelNotFoundError
from airflow_snowflake_batch.identifiers import Identifier, ObjectName
from airflow_snowflake_batch.inference.results import match_columns, parquet_files
from airflow_snowflake_batch.job_status import BatchJobStatus, JobState

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from snowflake.ml.model import ModelVersion
    from snowflake.ml.registry import Registry
    from snowflake.snowpark import DataFrame, Row, Session

    from airflow_snowflake_batch.backends.base import (
        BatchJobSpec,
        InputSource,
        LoadResultsRequest,
        PartitionValue,
        WarehouseInferenceRequest,
    )
    from airflow_snowflake_batch.identifiers import StageLocation
    from airflow_snowflake_batch.inference.fingerprint import ScoringRun

log = logging.getLogger(__name__)

# Snowflake's error number for "object does not exist or not authorized".
DOES_NOT_EXIST = 2003
# The named Parquet file format INFER_SCHEMA needs, created once per target schema.
PARQUET_FORMAT = Identifier("AIRFLOW_SNOWFLAKE_BATCH_PARQUET")
_FAILED_LOG_LINES = 20


class SnowflakeBackend:
    """Primitive operations on a Snowflake account, over one Snowpark session.

    Built from plain parts, so it knows nothing of Airflow connections or the hook:

    :param session_factory: Creates the Snowpark session (with its ``QUERY_TAG``) on first use, and
        again after :meth:`close` (e.g. when the hook reconnects after an expired session).
    :param default_database: Database for unqualified names (the connection's, or an override).
    :param default_schema: Schema for unqualified names.
    :param account_url: ``https://<account>.snowflakecomputing.com``-style base of Snowsight links.
    """

    def __init__(
        self,
        session_factory: Callable[[], Session],
        *,
        default_database: Identifier | None,
        default_schema: Identifier | None,
        account_url: str,
    ) -> None:
        self._session_factory = session_factory
        self._session: Session | None = None
        # Registry and ModelVersion objects run several SHOW queries each time they are built: keep
        # the ones made in this session (a backend serves one hook, i.e. one task execution).
        self._registries: dict[tuple[str | None, str | None], Registry] = {}
        self._versions: dict[tuple[str, str], ModelVersion] = {}
        self._refs: dict[tuple[str, str | None], ModelVersionRef] = {}
        # One DataFrame per input: Snowpark describes a DataFrame's query once (``schema`` is cached on
        # the object), so the check, ``run()``'s own validation and the scoring share one describe.
        self._frames: dict[InputSource, DataFrame] = {}
        self.default_database = default_database
        self.default_schema = default_schema
        self.account_url = account_url

    @property
    def session(self) -> Session:
        """The backend's Snowpark session (with the hook's ``QUERY_TAG``), created on first use."""
        if self._session is None:
            self._session = self._session_factory()
        return self._session

    def close(self) -> None:
        session, self._session = self._session, None
        self._registries.clear()
        self._versions.clear()
        self._refs.clear()
        self._frames.clear()
        if session is not None:
            session.close()

    def _run(self, statement: sql.Statement) -> list[Row]:
        text, params = statement
        return self.session.sql(text, params=params or None).collect()

    # -- registry ------------------------------------------------------------------------------

    def get_model_version(self, model: ObjectName, version: str | None) -> ModelVersionRef:
        """Resolve once per backend: an alias moved meanwhile is seen by the next task, not mid-task."""
        key = (model.sql, version)
        if key not in self._refs:
            mv = self._model_version(model, version)
            resolved = Identifier.parse(mv.version_name, what="version_name")
            self._versions[(model.sql, resolved.sql)] = mv
            self._refs[key] = ModelVersionRef(
                model=model,
                version=resolved,
                functions=tuple(_function(info) for info in mv.show_functions()),
            )
        return self._refs[key]

    def _registry(self, model: ObjectName) -> Registry:
        from snowflake.ml.registry import Registry

        key = (model.database.sql if model.database else None, model.schema.sql if model.schema else None)
        if key not in self._registries:
            try:
                self._registries[key] = Registry(self.session, database_name=key[0], schema_name=key[1])
            except ValueError as exc:
                # Registry() checks the database and schema exist: "Database DB does not exist."
                raise ModelNotFoundError(
                    f"Model {model.sql} cannot exist: {exc} (or the role cannot see it)."
                ) from exc
        return self._registries[key]

    def _model_version(self, model: ObjectName, version: str | None) -> ModelVersion:
        from snowflake.snowpark.exceptions import SnowparkSQLException

        registry = self._registry(model)
        try:
            found = registry.get_model(model.name.sql)
            _reuse_version_rows(found)
        except (ValueError, SnowparkSQLException) as exc:
            if isinstance(exc, SnowparkSQLException) and exc.sql_error_code != DOES_NOT_EXIST:
                raise
            raise ModelNotFoundError(
                f"Model {model.sql} does not exist in the registry (or the role cannot see it): {exc}"
            ) from exc
        try:
            return found.default if version is None else found.version(version)
        except ValueError as exc:
            wanted = "default version" if version is None else f"version or alias {version!r}"
            raise ModelNotFoundError(f"Model {model.sql} has no {wanted}: {exc}") from exc

    def _loaded_version(self, ref: ModelVersionRef) -> ModelVersion:
        """The ModelVersion of a resolved ref (a version name, never an alias), from this backend's cache."""
        cached = self._versions.get((ref.model.sql, ref.version.sql))
        return cached if cached is not None else self._model_version(ref.model, ref.version.sql)

    # -- catalog -------------------------------------------------------------------------------

    def _input_frame(self, source: InputSource) -> DataFrame:
        if source not in self._frames:
            self._frames[source] = self._new_input_frame(source)
        return self._frames[source]

    def _new_input_frame(self, source: InputSource) -> DataFrame:
        if source.table is not None:
            return self.session.table(source.table.sql)
        if source.query is not None:
            # snowflake-ml wraps the DataFrame's SQL as "FROM ({query})" on one line: a query ending in a
            # line comment would comment out its closing parenthesis without this newline.
            return self.session.sql(source.query + "\n")
        if source.files is not None:
            # One row per file, listed by the hook (LIST): run_batch copies it to the job as Parquet.
            column = Identifier(source.files.column).sql
            return self.session.create_dataframe([[path] for path in source.files.paths], schema=[column])
        raise ValueError(f"The {source.description} is read by the job itself, not through a DataFrame.")

    def describe_input(self, source: InputSource) -> list[Column]:
        # DataFrame.schema asks Snowflake for the result's columns without reading a row.
        return [
            Column(name=Identifier.parse(field.name).value, sql_type=snowflake_type_name(field.datatype))
            for field in self._input_frame(source).schema.fields
        ]

    def count_input(self, source: InputSource, null_columns: list[str]) -> InputCounts:
        # One scan of the input; COUNT_IF over a subquery keeps a user query's text intact.
        origin = source.table.sql if source.table is not None else subquery(source.query or "")
        row = self._run(sql.count_input(origin, [Identifier(c) for c in null_columns]))[0]
        nulls = {column: int(row[i + 1] or 0) for i, column in enumerate(null_columns)}
        return InputCounts(rows=int(row[0] or 0), nulls=nulls)

    def hash_input(self, source: InputSource) -> InputDigest:
        origin = source.table.sql if source.table is not None else subquery(source.query or "")
        row = self._run(sql.hash_input(origin))[0]
        return InputDigest(kind="rows", count=int(row[1] or 0), hash=f"hash_agg:{int(row[0] or 0)}")

    def read_scoring_run(self, table: ObjectName, target: str, partition: str) -> ScoringRun | None:
        from snowflake.snowpark.exceptions import SnowparkSQLException

        from airflow_snowflake_batch.inference.fingerprint import ScoringRun

        try:
            rows = self._run(sql.select_scoring_run(table.sql, target, partition))
        except SnowparkSQLException as exc:
            if exc.sql_error_code != DOES_NOT_EXIST:
                raise
            return None  # no run was ever recorded in this schema
        # Two records of one output (two writers raced): neither may vouch for the rows, so none does.
        return ScoringRun.from_row(tuple(rows[0])) if len(rows) == 1 else None

    def delete_scoring_runs(self, table: ObjectName, target: str, partitions: Sequence[str]) -> None:
        from snowflake.snowpark.exceptions import SnowparkSQLException

        try:
            self._run(sql.delete_scoring_runs(table.sql, target, partitions))
        except SnowparkSQLException as exc:
            if exc.sql_error_code != DOES_NOT_EXIST:
                raise  # a missing table holds no record to delete

    def add_scoring_run(self, table: ObjectName, run: ScoringRun) -> None:
        self._run(sql.create_scoring_runs(table.sql))
        self._run(sql.insert_scoring_run(table.sql, run.row()))

    def warehouse_size(self) -> str | None:
        for row in map(_row, self._run(sql.show_warehouses())):
            if str(row.get("is_current") or "").upper() == "Y":
                return str(row.get("size") or "") or None
        return None

    def table_exists(self, table: ObjectName) -> bool:
        return any(_row(r).get("name") == table.name.value for r in self._run(sql.show_tables(table)))

    def describe_stage(self, stage: ObjectName) -> StageInfo | None:
        for row in map(_row, self._run(sql.show_stages(stage))):
            if row.get("name") != stage.name.value:
                continue
            # SHOW STAGES reports encryption only through "type": INTERNAL NO CSE is server-side only.
            kind = str(row.get("type") or "").upper()
            if kind.startswith("EXTERNAL"):
                return StageInfo(name=stage, is_internal=False, encryption=None)
            encryption = "SNOWFLAKE_SSE" if "NO CSE" in kind else "SNOWFLAKE_FULL"
            return StageInfo(name=stage, is_internal=True, encryption=encryption)
        return None

    def _on_stage(self, location: StageLocation, statement: sql.Statement) -> list[Row]:
        """LIST or REMOVE: a missing stage (SQL compilation error 002003) is the provider's error."""
        from snowflake.snowpark.exceptions import SnowparkSQLException

        try:
            return self._run(statement)
        except SnowparkSQLException as exc:
            if exc.sql_error_code != DOES_NOT_EXIST:
                raise
            raise missing_stage_error(location) from exc

    def list_files(self, location: StageLocation) -> list[str]:
        return sorted(
            rel
            for r in self._on_stage(location, sql.list_files(location))
            if (rel := _relative(str(_row(r)["name"]), location))
        )

    def list_file_details(self, location: StageLocation) -> list[StageFile]:
        files = [
            StageFile(
                path=rel,
                last_modified=_timestamp(row["last_modified"]),
                size=None if row.get("size") is None else int(row["size"]),
                md5=str(row.get("md5") or "") or None,
            )
            for row in map(_row, self._on_stage(location, sql.list_files(location)))
            if (rel := _relative(str(row["name"]), location))
        ]
        return sorted(files, key=lambda f: f.path)

    def remove_files(self, location: StageLocation) -> None:
        self._on_stage(location, sql.remove_files(location))

    # -- warehouse inference -------------------------------------------------------------------

    def run_warehouse_inference(self, request: WarehouseInferenceRequest) -> int:
        """Score server-side into a temporary table, then publish it to the output table.

        The model runs once (no row reaches the worker), and the row count, the table creation and
        the publishing all read that table. Publishing follows the write contract
        (docs/write_contract.rst): the table is created when missing and gets the columns it lacks; with a
        partition only its rows are replaced, whatever the mode; ``overwrite`` deletes and inserts
        in one transaction, so the table object (grants, comments, clustering, policies) stays.
        """
        from snowflake.snowpark.functions import lit

        mv = self._loaded_version(request.model)
        scored = mv.run(
            self._input_frame(request.source),
            function_name=Identifier(request.function.name).sql,
            partition_column=request.partition_column and Identifier(request.partition_column).sql,
            strict_input_validation=request.strict_input_validation,
            params=dict(request.params) or None,
        )
        scored = _rename_outputs(scored, request.function)
        for column, value in request.partition.items():
            scored = scored.with_column(Identifier(column).sql, lit(value))

        target = request.output_table
        staging = _temp_name(target)
        scored.write.save_as_table(staging.sql, mode="errorifexists", table_type="temporary")
        try:
            rows = int(self._run(sql.count_rows(staging))[0][0])
            # The scored DataFrame's columns are the temporary table's: save_as_table described
            # them to create it, and Snowpark keeps them on the DataFrame (no describe of the table).
            columns = [
                (Identifier.parse(f.name), snowflake_type_name(f.datatype)) for f in scored.schema.fields
            ]
            self._run(sql.create_table_like(target, staging))
            into = self._add_columns(target, columns)
            insert = sql.insert_from(
                target, staging, {name: Identifier(into[name.value]) for name, _ in columns}
            )
            if request.partition or request.mode == "overwrite":
                self._replace_rows(target, _respelled(request.partition, into), insert)
            else:
                self._run(insert)
        finally:
            self._run(sql.drop_table(staging))
        return rows

    def _add_columns(self, target: ObjectName, columns: Iterable[tuple[Identifier, str]]) -> dict[str, str]:
        """Add the columns the table lacks, before any transaction (DDL commits one); return each
        written column's name in the table (its exact spelling).

        A column the table has in another case (``"score"`` for ``SCORE``) is written there, not added
        again: :func:`~airflow_snowflake_batch.inference.results.match_columns` decides, and refuses a
        table holding two case variants of a written column before anything is added or written.
        One ``SHOW COLUMNS`` spares a DDL statement per column the table has already.
        """
        columns = list(columns)
        have = [str(_row(r).get("column_name")) for r in self._run(sql.show_columns(target))]
        matched = match_columns(target.sql, have, [column.value for column, _ in columns])
        for column, sql_type in columns:
            if matched[column.value] is None:
                self._run(sql.add_column(target, column, sql_type))
        return {name: spelled or name for name, spelled in matched.items()}

    def _replace_rows(
        self, target: ObjectName, partition: Mapping[str, PartitionValue], insert: sql.Statement | None
    ) -> None:
        """Delete the partition's rows (all rows when ``partition`` is empty) and insert, in one transaction.

        DDL commits a Snowflake transaction, so every ``CREATE``/``ALTER`` runs before this.
        """
        self._run(sql.BEGIN)
        try:
            self._run(sql.delete_rows(target, partition))
            if insert is not None:
                self._run(insert)
            self._run(sql.COMMIT)
        except BaseException:
            # The original error matters more than a failed rollback (the session ends the transaction anyway).
            with contextlib.suppress(Exception):
                self._run(sql.ROLLBACK)
            raise

    # -- batch jobs ----------------------------------------------------------------------------

    def submit_job(self, spec: BatchJobSpec) -> str:
        from snowflake.ml.model import batch_inference as bi

        mv = self._loaded_version(spec.model)
        location = spec.source.stage_location  # Parquet files read in place; any other input is a frame
        input_options = {
            "params": dict(spec.params) or None,
            "column_handling": dict(spec.column_handling) or None,
            "partition_column": spec.partition_column and Identifier(spec.partition_column).sql,
        }
        resources = {
            "cpu_requests": spec.cpu_requests,
            "memory_requests": spec.memory_requests,
            "gpu_requests": spec.gpu_requests,
        }
        engine = (
            bi.EngineOptions(engine=spec.engine, engine_args_override=list(spec.engine_args_override) or None)
            if spec.engine
            else None
        )
        inference = {
            "num_workers": spec.num_workers,
            "max_batch_rows": spec.max_batch_rows,
            "engine_options": engine,
        }
        job = mv.run_batch(
            None if location is not None else self._input_frame(spec.source),
            input_stage_location=location.sql if location is not None else None,
            compute_pool=spec.compute_pool.sql,
            output_spec=bi.OutputSpec(
                stage_location=spec.output_location.sql, mode=bi.SaveMode(spec.save_mode)
            ),
            input_spec=_spec(bi.InputSpec, input_options),
            resources_spec=_spec(bi.ResourcesSpec, resources),
            inference_spec=_spec(bi.InferenceSpec, inference),
            image_build_spec=(
                bi.ImageBuildSpec(image_repo=spec.image_repo, force_rebuild=spec.force_rebuild)
                if spec.image_repo
                else None
            ),
            function_name=Identifier(spec.function.name).sql,
            job_name=spec.job_name.sql,
            replicas=spec.replicas,
        )
        return str(job.id)

    def get_job_state(self, job_id: str) -> JobState | None:
        """One ``DESCRIBE SERVICE``; None when it answers "does not exist" (error 2003).

        ``snowflake.ml.jobs.get_job`` is not used: for a missing service it falls back to
        ``SNOWFLAKE.SPCS.GET_JOB_HISTORY()``, which needs another privilege (any error there failed the
        look-up, so no job could be submitted), is unordered (after a drop and resubmit under the same
        name it may report the old job) and takes quoted names with their quotes. A service that is
        gone is absent for the hook, which then submits anew.
        """
        from snowflake.snowpark.exceptions import SnowparkSQLException

        try:
            rows = self._run(sql.describe_service(ObjectName.parse(job_id, what="job_id")))
        except SnowparkSQLException as exc:
            if exc.sql_error_code == DOES_NOT_EXIST:
                return None
            raise
        if not rows:
            return None
        status = BatchJobStatus.parse(_row(rows[0]).get("status"))
        message = ""
        if status in (BatchJobStatus.FAILED, BatchJobStatus.INTERNAL_ERROR):
            message = self._log_tail(job_id)
        return JobState(job_id=job_id, status=status, message=message)

    def get_job_states(self, job_ids: Sequence[str]) -> dict[str, JobState | None]:
        """One ``SHOW JOB SERVICES IN SCHEMA`` per schema, whatever the number of jobs.

        A job the listing lacks (dropped, or known only to the job history) and a failed one (whose
        message is its log tail) are looked up alone with :meth:`get_job_state`: rare, and once per job.
        """
        by_schema: dict[tuple[str, str], list[tuple[str, ObjectName]]] = {}
        for job_id in job_ids:
            name = ObjectName.parse(job_id, what="job_id")
            by_schema.setdefault((str(name.database), str(name.schema)), []).append((job_id, name))
        states: dict[str, JobState | None] = {}
        for jobs in by_schema.values():
            first = jobs[0][1]
            assert first.database is not None and first.schema is not None  # job ids are fully qualified
            listed = {
                str(row.get("name")): row
                for row in map(_row, self._run(sql.show_job_services(first.database, first.schema)))
            }
            for job_id, name in jobs:
                row = listed.get(name.name.value)
                status = BatchJobStatus.parse(row.get("status")) if row is not None else None
                if status is None or status in (BatchJobStatus.FAILED, BatchJobStatus.INTERNAL_ERROR):
                    states[job_id] = self.get_job_state(job_id)
                else:
                    states[job_id] = JobState(job_id=job_id, status=status)
        return states

    def _job(self, job_id: str) -> Any:
        """An ``MLJob`` handle for its log methods, built without the look-ups of ``jobs.get_job``."""
        from snowflake.ml.jobs import MLJob

        return MLJob(job_id, session=self.session)

    def _log_tail(self, job_id: str) -> str:
        """The last log lines of a failed job, or "" when the logs are gone (they are best effort)."""
        try:
            return str(self._job(job_id).get_logs(limit=_FAILED_LOG_LINES))
        except Exception as exc:  # noqa: BLE001 - a missing log must not hide the job's failure
            log.info("No logs for job %s: %s", job_id, exc)
            return ""

    def cancel_job(self, job_id: str) -> None:
        """Cancel the job; a service that is already gone (dropped, or never there) counts as cancelled."""
        from snowflake.snowpark.exceptions import SnowparkSQLException

        try:
            self._run(sql.cancel_job(ObjectName.parse(job_id, what="job_id")))
        except SnowparkSQLException as exc:
            if exc.sql_error_code != DOES_NOT_EXIST:
                raise
            log.info("Job %s has no service any more; nothing to cancel.", job_id)

    def get_job_usage(self, job_id: str) -> JobUsage:
        """The job's run time (``GET_JOB_HISTORY``: ``COMPLETED_TIME`` - ``CREATED_TIME``), compute pool and
        the pool's instance family (``SHOW COMPUTE POOLS``): two statements, once per finished job.

        Best effort: a role that cannot read the history or the pool (or a dropped pool) gets the
        fields it could read and a ``source`` that says what was missing; the task does not fail for it.
        """
        from snowflake.snowpark.exceptions import SnowparkSQLException

        name = ObjectName.parse(job_id, what="job_id")
        try:
            rows = [_row(r) for r in self._run(sql.job_history(name))]
        except SnowparkSQLException as exc:
            return JobUsage(source=f"GET_JOB_HISTORY could not be read: {exc.message}")
        if not rows:
            return JobUsage(source="GET_JOB_HISTORY has no row for the job")
        row = {k.upper(): v for k, v in rows[0].items()}
        created, completed = row.get("CREATED_TIME"), row.get("COMPLETED_TIME")
        seconds = (
            (_history_time(completed) - _history_time(created)).total_seconds()
            if created is not None and completed is not None
            else None
        )
        pool = str(row["COMPUTE_POOL_NAME"]) if row.get("COMPUTE_POOL_NAME") else None
        family = None
        source = "GET_JOB_HISTORY CREATED_TIME to COMPLETED_TIME"
        if pool is not None:
            try:
                pools = [_row(r) for r in self._run(sql.show_compute_pools(Identifier.parse(pool)))]
                family = next(
                    (
                        str(p["instance_family"])
                        for p in pools
                        if str(p.get("name", "")).upper() == pool.upper()
                    ),
                    None,
                )
            except SnowparkSQLException as exc:
                source += f"; SHOW COMPUTE POOLS could not be read: {exc.message}"
        return JobUsage(wall_seconds=seconds, compute_pool=pool, instance_family=family, source=source)

    def get_job_progress(self, job_id: str, output_location: StageLocation) -> JobProgress | None:
        """The Parquet files the job wrote so far under its folder: one ``LIST``. SPCS tells neither the
        rows scored nor the files to come, so the total is unknown (no time-left estimate)."""
        files = [f for f in self.list_files(output_location) if not f.startswith(TEMPORARY_INPUT_FOLDER)]
        return JobProgress(done=len(parquet_files(files)), total=None, unit="files")

    def get_job_logs(self, job_id: str) -> str:
        from snowflake.snowpark.exceptions import SnowparkSQLException

        try:
            return str(self._job(job_id).get_logs())
        except (SnowparkSQLException, RuntimeError, KeyError, ValueError) as exc:
            # Logs of a job that never started, or was dropped, do not exist.
            log.info("No logs for job %s: %s", job_id, exc)
            return ""

    def drop_job(self, job_id: str) -> None:
        # Plain DROP SERVICE: jobs.delete_job would also REMOVE the stage path of an ML job spec,
        # which a batch inference job does not have, and it fails for a job that is already gone.
        self._run(sql.drop_service(ObjectName.parse(job_id, what="job_id")))

    def list_jobs(self, database: Identifier, schema: Identifier) -> list[JobInfo]:
        jobs = []
        for row in map(_row, self._run(sql.show_job_services(database, schema))):
            name = str(row["name"])
            job = ObjectName(name=Identifier(name), schema=schema, database=database)
            jobs.append(
                JobInfo(
                    job_id=job.sql,
                    name=name,
                    status=BatchJobStatus.parse(row.get("status")),
                    created_on=_timestamp(row["created_on"]),
                )
            )
        return jobs

    def job_url(self, job_id: str, output_location: StageLocation) -> str:
        job = ObjectName.parse(job_id, what="job_id")
        parts = "/".join(
            quote(p.value, safe="") for p in (job.database, job.schema, job.name) if p is not None
        )
        # The path snowflake-ml itself prints for a job (snowflake/ml/_internal/utils/url.py).
        return f"{self.account_url}/#/compute/job/{parts}"

    # -- results -------------------------------------------------------------------------------

    def load_results(self, request: LoadResultsRequest) -> int:
        """COPY the job's Parquet files by column name, following the write contract.

        ``append`` without a partition copies straight into the table, so its load history skips
        files loaded before; otherwise the files are copied into a temporary table, which replaces
        the partition's (or the table's) rows in one transaction. No file (an empty input) loads 0
        rows, still replacing them, and creates no table: no file tells its columns.
        """
        target = request.target_table
        if not request.parquet_files:
            if (request.partition or request.mode == "overwrite") and self.table_exists(target):
                self._replace_rows(target, request.partition, None)
            return 0
        file_format = ObjectName(name=PARQUET_FORMAT, schema=target.schema, database=target.database)
        self._run(sql.create_parquet_format(file_format))
        parquet = request.parquet_files  # named, so INFER_SCHEMA never reads _SUCCESS
        if request.create_table_if_missing:
            self._run(sql.create_table_from_parquet(target, request.location, file_format, parquet))
        file_columns = [
            (Identifier(str(row[0])), str(row[1]))
            for row in self._run(sql.parquet_columns(request.location, file_format, parquet))
            if str(row[0]).upper() not in {c.upper() for c in request.partition}
        ]
        partition_columns = [(Identifier(c), sql.partition_type(v)) for c, v in request.partition.items()]
        # The COPY matches file columns case-insensitively; the partition's columns are named in SQL.
        partition = _respelled(
            request.partition, self._add_columns(target, [*file_columns, *partition_columns])
        )

        if not request.partition and request.mode == "append":
            # Load history skips files this table loaded before: loading a job twice adds nothing.
            return _rows_loaded(
                self._run(sql.copy_parquet(target, request.location, file_format, force=False))
            )

        staging = _temp_name(target)
        self._run(sql.create_table_like(staging, target, temporary=True))
        try:
            rows = _rows_loaded(
                self._run(sql.copy_parquet(staging, request.location, file_format, force=True))
            )
            if partition:
                self._run(sql.set_columns(staging, partition))
            self._replace_rows(target, partition, sql.insert_from(target, staging))
        finally:
            self._run(sql.drop_table(staging))
        return rows


def snowflake_type_name(datatype: Any) -> str:
    """The Snowflake type name of a Snowpark column type, as ``DESCRIBE TABLE`` would show it.

    >>> from snowflake.snowpark.types import DecimalType, LongType, StringType
    >>> snowflake_type_name(LongType()), snowflake_type_name(DecimalType(10, 2)), snowflake_type_name(StringType())
    ('NUMBER(38,0)', 'NUMBER(10,2)', 'VARCHAR')
    """
    from snowflake.snowpark import types as t

    if isinstance(datatype, t.DecimalType):
        return f"NUMBER({datatype.precision},{datatype.scale})"
    if isinstance(datatype, t.TimestampType):
        zone = {t.TimestampTimeZone.LTZ: "LTZ", t.TimestampTimeZone.TZ: "TZ"}.get(datatype.tz, "NTZ")
        return f"TIMESTAMP_{zone}"
    names: list[tuple[type | tuple[type, ...], str]] = [
        ((t.ByteType, t.ShortType, t.IntegerType, t.LongType), "NUMBER(38,0)"),
        (t.DecFloatType, "DECFLOAT"),
        ((t.FloatType, t.DoubleType), "FLOAT"),
        (t.StringType, "VARCHAR"),
        (t.BooleanType, "BOOLEAN"),
        (t.BinaryType, "BINARY"),
        (t.DateType, "DATE"),
        (t.TimeType, "TIME"),
        (t.ArrayType, "ARRAY"),
        (t.MapType, "OBJECT"),
        (t.StructType, "OBJECT"),
        (t.VariantType, "VARIANT"),
        (t.VectorType, "VECTOR"),
        (t.GeographyType, "GEOGRAPHY"),
        (t.GeometryType, "GEOMETRY"),
    ]
    return next((name for cls, name in names if isinstance(datatype, cls)), type(datatype).__name__.upper())


def _rename_outputs(scored: DataFrame, function: ModelFunction) -> DataFrame:
    """Name the outputs by :func:`output_column`, whichever spelling ``run()`` chose for them."""
    for feature in function.outputs:
        wanted = Identifier(output_column(feature.name))
        for existing in scored.columns:
            value = Identifier.parse(existing).value
            if value != wanted.value and value in (feature.name, feature.name.upper()):
                scored = scored.with_column_renamed(existing, wanted.sql)
    return scored


def _function(info: Mapping[str, Any]) -> ModelFunction:
    signature = info["signature"]
    return ModelFunction(
        # show_functions() names functions as SQL identifiers ("PREDICT", or quoted when lower-case).
        name=Identifier.parse(info["name"], what="function name").value,
        target_method=info["target_method"],
        function_type=info.get("target_method_function_type") or "FUNCTION",
        inputs=tuple(_feature(s.to_dict()) for s in signature.inputs),
        outputs=tuple(_feature(s.to_dict()) for s in signature.outputs),
        params=tuple(param_from_spec(p.to_dict()) for p in getattr(signature, "params", None) or ()),
        is_partitioned=bool(info.get("is_partitioned", False)),
    )


def _feature(spec: Mapping[str, Any]) -> Feature:
    """A ``FeatureSpec`` dict, or a ``FeatureGroupSpec`` one kept as a single OBJECT feature.

    A feature group (e.g. the OpenAI chat ``messages``) is fed by one structured column, so it is not
    flattened into its members: the column is checked to be semi-structured.
    """
    shape = spec.get("shape")
    if "specs" in spec:
        return Feature(
            name=spec["name"], dtype="OBJECT", nullable=True, shape=tuple(shape) if shape else None
        )
    return Feature(
        name=spec["name"],
        dtype=spec["type"],
        nullable=bool(spec.get("nullable", True)),
        shape=tuple(shape) if shape else None,
    )


def _reuse_version_rows(model: Any) -> None:
    """Answer snowflake-ml's repeated ``SHOW VERSIONS LIKE`` of one version from its first answer.

    snowflake-ml 2.x reads a version's row (its model spec) again in ``show_functions()``, ``run()``
    and ``run_batch()`` (``ModelOperator._fetch_model_spec_and_target_platforms``): three round trips
    for what one task resolved once (a version's spec never changes; an alias moved meanwhile is
    seen by the next task, as :meth:`SnowflakeBackend.get_model_version` says). The cache sits on
    this ``Model``'s own SQL client, shared by its ``ModelVersion`` objects only, and keeps the
    arguments that change the answer (details or not, validated or not) in its key. Without that
    private client (another snowflake-ml), nothing is cached and every call goes to Snowflake.
    """
    client = getattr(getattr(model, "_model_ops", None), "_model_client", None)
    show_versions = getattr(client, "show_versions", None)
    if client is None or show_versions is None:
        return
    answers: dict[tuple[str, ...], Any] = {}

    def cached(**kwargs: Any) -> Any:
        if kwargs.get("version_name") is None:  # the model's versions (aliases): asked once anyway
            return show_versions(**kwargs)
        key = tuple(
            str(kwargs.get(name)) for name in ("database_name", "schema_name", "model_name", "version_name")
        ) + (str(bool(kwargs.get("check_model_details"))), str(kwargs.get("validate_result", True)))
        if key not in answers:
            answers[key] = show_versions(**kwargs)
        return answers[key]

    client.show_versions = cached


def _spec(cls: Any, fields: Mapping[str, Any]) -> Any:
    """A snowflake-ml spec object of the fields that are set, or None when none is."""
    given = {k: v for k, v in fields.items() if v is not None}
    return cls(**given) if given else None


def _respelled(partition: Mapping[str, PartitionValue], into: Mapping[str, str]) -> dict[str, PartitionValue]:
    """The partition with its columns spelled as the table spells them (see :meth:`SnowflakeBackend._add_columns`)."""
    return {into.get(column, column): value for column, value in partition.items()}


def _temp_name(near: ObjectName) -> ObjectName:
    return ObjectName(
        name=Identifier(f"AIRFLOW_SNOWFLAKE_BATCH_TMP_{uuid.uuid4().hex[:12].upper()}"),
        schema=near.schema,
        database=near.database,
    )


def _row(row: Row) -> dict[str, Any]:
    """A result row keyed by lower-case column name (SHOW and LIST name their columns in lower case)."""
    return {str(k).lower(): v for k, v in row.as_dict().items()}


def _relative(name: str, location: StageLocation) -> str:
    """A ``LIST`` name (``stage/path/to/file``, stage part lower-cased) made relative to ``location``."""
    if location.path:
        cut = name.find("/" + location.path)
        return name[cut + 1 + len(location.path) :] if cut >= 0 else ""
    return name.split("/", 1)[1] if "/" in name else ""


def _timestamp(value: Any) -> datetime:
    """A ``SHOW`` timestamp (a datetime) or a ``LIST`` ``last_modified`` (an RFC 1123 string), in UTC.

    >>> _timestamp("Mon, 30 Nov 2026 04:47:14 GMT").isoformat()
    '2026-11-30T04:47:14+00:00'
    """
    parsed = value if isinstance(value, datetime) else parsedate_to_datetime(str(value))
    if parsed.tzinfo is None:  # a naive time from Snowflake is UTC
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def _history_time(value: Any) -> datetime:
    """A ``GET_JOB_HISTORY`` time: TIMESTAMP_LTZ, a datetime from the connector (text is ISO 8601).

    >>> _history_time("2026-12-02 10:00:00+00:00").isoformat()
    '2026-12-02T10:00:00+00:00'
    """
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)


def _rows_loaded(rows: list[Row]) -> int:
    """The sum of ``rows_loaded`` over COPY's per-file rows (one status row without it when no file loaded)."""
    return sum(int(_row(r).get("rows_loaded") or 0) for r in rows)
