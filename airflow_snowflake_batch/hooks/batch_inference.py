"""SnowflakeBatchInferenceHook: the only code that talks to Snowflake or the local workspace.

The connection, its backend, the session, retries, name qualification and input parsing are the base hook's
(:mod:`~airflow_snowflake_batch.hooks.batch_inference_base`); the calls (validate, submit, wait, cancel,
logs, load, clean up) are here. What a call decides (does the input fit the signature, does this try
re-attach, what does a load replace, what may cleanup drop) is in :mod:`airflow_snowflake_batch.inference`,
which imports nothing of Airflow: the hook reads what a decision needs and acts on what it returns."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

# typing's own TypedDict, Required and Unpack need Python 3.11 or 3.12 (this package supports 3.10).
from typing_extensions import Required, TypedDict, Unpack

from airflow_snowflake_batch.backends.base import (
    BatchJobSpec,
    Column,
    InputSource,
    LoadResultsRequest,
    WarehouseInferenceRequest,
)
from airflow_snowflake_batch.constants import DEFAULT_JOB_PREFIX, LOCAL_CONN_TYPE, SUCCESS_FILE
from airflow_snowflake_batch.exceptions import BatchJobError, InputValidationError
from airflow_snowflake_batch.get_provider_info import LOCAL_CONNECTION_FIELDS, LOCAL_HIDDEN_FIELDS
from airflow_snowflake_batch.hooks.batch_inference_base import SnowflakeBatchInferenceBaseHook
from airflow_snowflake_batch.hooks.rescoring import RescoringMixin, WarehouseScoring
from airflow_snowflake_batch.identifiers import Identifier, ObjectName, StageLocation, parse_job_name
from airflow_snowflake_batch.inference import (
    fingerprint,
    inputs,
    jobs,
    results,
    retention,
    signature,
    spec_safety,
    stages,
)
from airflow_snowflake_batch.inference.column_handling import check_column_handling, file_source
from airflow_snowflake_batch.inference.jobs import JobStart
from airflow_snowflake_batch.inference.progress import PROGRESS_INTERVAL, ProgressLog
from airflow_snowflake_batch.inference.results import replace_key
from airflow_snowflake_batch.utils.threads import in_thread

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from airflow_snowflake_batch.backends.base import (
        JobProgress,
        JobUsage,
        ModelFunction,
        ModelVersionRef,
        PartitionValue,
        SaveMode,
        TableMode,
    )
    from airflow_snowflake_batch.job_status import JobState

# JobStart is re-exported: it is what start_batch_job returns, and callers import it from here.
__all__ = ["JobStart", "SnowflakeBatchInferenceHook"]

log = logging.getLogger(__name__)


class WarehouseRun(TypedDict, total=False):
    """The arguments of a warehouse run (:meth:`SnowflakeBatchInferenceHook.run_warehouse_inference` and
    :meth:`~SnowflakeBatchInferenceHook.run_warehouse_scoring`), as the warehouse operator documents them."""

    model_name: Required[str]
    version_name: Required[str | None]
    function_name: Required[str | None]
    source: Required[InputSource]
    output_table: Required[str]
    output_mode: TableMode  # default "overwrite"
    output_partition: dict[str, PartitionValue] | None
    params: dict[str, Any] | None
    partition_column: str | None
    strict_input_validation: bool  # default False
    map_index: int | None
    require_rows: bool  # default False


class SnowflakeBatchInferenceHook(RescoringMixin, SnowflakeBatchInferenceBaseHook):
    """
    Run Snowflake Model Registry inference: warehouse ``run()`` and SPCS ``run_batch()`` jobs.

    A :class:`~airflow.providers.snowflake.hooks.snowflake.SnowflakeHook`, so every authentication
    method of a ``snowflake`` connection works unchanged. A connection of type
    ``snowflake_batch_local`` (see :meth:`airflow_snowflake_batch.local.LocalWorkspace.connection_uri`)
    runs the same calls on an embedded local workspace instead. Use it as a context manager, or call
    :meth:`close`, to release the session.

    :param snowflake_conn_id: Airflow connection id (``snowflake`` or ``snowflake_batch_local`` type).
    :param database: Database overriding the connection's, for unqualified names.
    :param schema: Schema overriding the connection's, for unqualified names.
    :param warehouse: Warehouse overriding the connection's.
    :param role: Role overriding the connection's.
    :param query_tag: Key/values set as the session's ``QUERY_TAG`` (dag, task and run, for cost attribution).
    :param connection: The Airflow connection, already read (the trigger reads it on the event loop);
        default: looked up by ``snowflake_conn_id`` when first needed.
    """

    # The Snowflake provider owns the ``snowflake`` type; this hook registers the local workspace type.
    conn_type = LOCAL_CONN_TYPE
    hook_name = "Snowflake Batch Inference (local workspace)"

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """The local connection's own fields in the connection form (Airflow < 3.2; 3.2+ reads the
        provider info's ``conn-fields``, see :mod:`airflow_snowflake_batch.get_provider_info`)."""
        from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import StringField

        return {
            name: StringField(
                lazy_gettext(field["label"]), widget=BS3TextFieldWidget(), description=field["description"]
            )
            for name, field in LOCAL_CONNECTION_FIELDS.items()
        }

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Hide the standard fields a local workspace does not use (Airflow < 3.2; 3.2+ reads ``ui-field-behaviour``)."""
        return {
            "hidden_fields": list(LOCAL_HIDDEN_FIELDS),
            "relabeling": {},
            "placeholders": {name: field["placeholder"] for name, field in LOCAL_CONNECTION_FIELDS.items()},
        }

    # -- registry ------------------------------------------------------------------------------

    def get_model_version(self, model_name: str, version_name: str | None = None) -> ModelVersionRef:
        """Resolve a model (name resolved against the defaults) and a version, alias or the default."""
        model = self.qualify(model_name, what="model_name")
        if version_name is not None:
            Identifier.parse(version_name, what="version_name")
        return self._idempotent(lambda b: b.get_model_version(model, version_name))

    def resolve_function(self, model: ModelVersionRef, function_name: str | None) -> ModelFunction:
        """The function to run: the one named (case-insensitively), or the only one the model has."""
        return signature.resolve_function(model, function_name)

    # -- validation ----------------------------------------------------------------------------

    def validate_input(
        self,
        source: InputSource,
        function: ModelFunction,
        *,
        strict: bool = False,
        partition: Mapping[str, PartitionValue] | None = None,
        column_handling: dict[str, Any] | None = None,
        batch: bool = False,
        require_rows: bool = False,
    ) -> dict[str, dict[str, str]]:
        """Check the input's columns and ``column_handling`` against the function before anything runs;
        return the handling normalized.

        Columns must feed the inputs by snowflake-ml's naming rule, no output or partition column may
        replace an input column, and no column feeding a feature that cannot hold NULL may hold one
        (counted by one query). Parquet files of a stage location are read by the job itself, so only
        the handling's values are checked for them.

        :param batch: The input goes to a batch job, which parses JSON text for structured features.
        :param require_rows: Refuse a table or query without rows (counted in the same query as the
            NULLs), so that nothing is submitted or written for it.
        """
        where = source.description
        if source.stage_location is not None:
            location = source.stage_location
            inputs.require_parquet(location, self._idempotent(lambda b: b.list_files(location)))
            return check_column_handling(function, None, column_handling or {}, where=where)
        if source.files is not None:
            columns = [Column(name=source.files.column, sql_type="VARCHAR")]
        else:
            columns = self._idempotent(lambda b: b.describe_input(source))
        checked = inputs.check_columns(
            function,
            columns,
            column_handling or {},
            strict=strict,
            partition=partition or {},
            where=where,
            json_text=batch,
        )
        if source.files is None and (checked.nullable_columns or require_rows):  # file paths are never NULL
            counts = self._idempotent(lambda b: b.count_input(source, checked.nullable_columns))
            signature.check_nulls(function, checked.matched, counts.nulls, where=where)
            if require_rows:
                inputs.check_not_empty(counts.rows, where=where, partition=partition)
        return checked.handling

    def validate_output_location(
        self,
        base: StageLocation,
        job_folder: StageLocation,
        *,
        source: InputSource,
        save_mode: SaveMode,
        file_inputs: bool,
    ) -> None:
        """The output stage exists and is internal, its encryption suits the inputs, the folder fits the mode."""
        stage = self._idempotent(lambda b: b.describe_stage(base.stage))
        if warning := stages.check_output_stage(base, stage, file_inputs=file_inputs):
            log.warning(warning)
        stages.check_nesting(base, job_folder, source)
        if save_mode == "error":
            files = self._idempotent(lambda b: b.list_files(job_folder))
            stages.check_folder_for_mode(job_folder, files, save_mode)

    # -- warehouse inference -------------------------------------------------------------------

    def run_warehouse_inference(self, **run: Unpack[WarehouseRun]) -> tuple[ObjectName, int, ModelVersionRef]:
        """Validate, then score ``source`` into ``output_table`` server-side; return (table, rows, version).

        The arguments are :class:`WarehouseRun`'s. What the write replaces is in docs/write_contract.rst;
        ``map_index`` (of a mapped task) joins the replace key as
        :data:`~airflow_snowflake_batch.inference.results.MAP_INDEX_COLUMN`, so mapped shards never delete
        each other's rows. Always scores; :meth:`run_warehouse_scoring` first checks whether anything changed.
        """
        request = self._warehouse_request(run)
        self.forget_scores(request.output_table, fingerprint.partition_key(request.partition))
        rows = self.backend.run_warehouse_inference(request)
        return request.output_table, rows, request.model

    def _warehouse_request(self, run: WarehouseRun) -> WarehouseInferenceRequest:
        """Every check of a warehouse run (nothing is written), and the request the backend runs."""
        source, mode, params = run["source"], run.get("output_mode", "overwrite"), run.get("params") or {}
        if source.stage_location is not None or source.files is not None:
            raise InputValidationError("Warehouse inference reads a table or a query, not stage files.")
        table = self.qualify(run["output_table"], what="output_table")
        partition = replace_key(
            results.parse_partition(run.get("output_partition")), mode, run.get("map_index")
        )
        spec_safety.check_param_values(params)
        model = self.get_model_version(run["model_name"], run["version_name"])
        function = self.resolve_function(model, run["function_name"])
        signature.check_params(function, params)
        strict = run.get("strict_input_validation", False)
        self.validate_input(
            source, function, strict=strict, partition=partition, require_rows=run.get("require_rows", False)
        )
        return WarehouseInferenceRequest(
            model=model,
            function=function,
            source=source,
            output_table=table,
            mode=mode,
            partition=partition,
            params=dict(params),
            partition_column=_column(run.get("partition_column")),
            strict_input_validation=strict,
        )

    def run_warehouse_scoring(
        self, *, rescore: fingerprint.Rescore = "if_changed", **run: Unpack[WarehouseRun]
    ) -> WarehouseScoring:
        """:meth:`run_warehouse_inference` (same arguments), or nothing when the output already holds
        the scores of the same run (docs/rescoring.rst): with ``rescore="if_changed"`` a partition (or,
        with ``overwrite``, the table) is kept when the record of what scored it matches this run's
        fingerprint. ``append`` without a partition replaces nothing, so it always scores.

        The input is checked first, as for every run; the record is deleted before the write and
        written after it, so a crash in between leaves no record and the next run scores again.
        """
        fingerprint.check_rescore(rescore)
        started = time.monotonic(), time.process_time()
        self.forget_input_digests()
        request = self._warehouse_request(run)
        table, model = request.output_table, request.model
        if not request.partition and request.mode == "append":
            self.forget_scores(table, fingerprint.partition_key({}))
            rows = self.backend.run_warehouse_inference(request)
            return WarehouseScoring(
                table,
                rows,
                model,
                reused=False,
                reason="append without a partition",
                started=started,
                warehouse_size=self._warehouse_size(),
            )
        key = fingerprint.partition_key(request.partition)
        options = {
            "params": request.params,
            "partition_column": request.partition_column,
            "strict_input_validation": request.strict_input_validation,
            "output_mode": request.mode,
            "output_partition": request.partition,
        }
        current = self.fingerprint_run(model, request.function, request.source, options)
        stored = self.scoring_run(table, table.sql, key) if rescore == "if_changed" else None
        decision = fingerprint.may_reuse(stored, current, rescore, what=f"{table.sql} partition {key}")
        if decision.reuse and stored is not None:
            return WarehouseScoring(
                table, stored.input_rows, model, reused=True, reason=decision.reason, started=started
            )
        self.forget_scores(table, key)  # before the write: a crash after it leaves no record
        rows = self.backend.run_warehouse_inference(request)
        self.record_scoring_run(table, fingerprint.record(table.sql, key, current), replaces=False)
        return WarehouseScoring(
            table,
            rows,
            model,
            reused=False,
            reason=decision.reason,
            started=started,
            warehouse_size=self._warehouse_size(),
        )

    def _warehouse_size(self) -> str | None:
        """The session's warehouse size for the cost estimate; None (logged) when it cannot be read: an
        estimate never fails a run that scored."""
        try:
            return self._idempotent(lambda b: b.warehouse_size())
        except Exception as exc:
            log.info("The warehouse size could not be read, so no credit estimate: %s", exc)
            return None

    # -- batch jobs ----------------------------------------------------------------------------

    def build_batch_job_spec(
        self,
        *,
        model_name: str,
        version_name: str | None,
        function_name: str | None,
        source: InputSource,
        compute_pool: str,
        output_stage_location: str,
        job_name: str,
        **options: Any,
    ) -> BatchJobSpec:
        """Resolve names and check the function and every value; the stage is checked at submit time.

        Every value that reaches the job specification (a YAML document snowflake-ml embeds in a SQL
        string literal) is checked here, before anything runs, with an error naming its argument.
        """
        name = parse_job_name(job_name, what="job_name")
        output_location = self.parse_location(output_stage_location, what="output_stage_location")
        params = dict(options.pop("params", None) or {})
        spec_safety.check_spec_values(source, output_location, params, options)
        model = self.get_model_version(model_name, version_name)
        function = self.resolve_function(model, function_name)
        signature.check_params(function, params)
        # Snowflake puts an unqualified job in the model's database and schema.
        name = name.qualify(model.model.database, model.model.schema)
        handling = dict(options.pop("column_handling", None) or {})
        if source.files is not None:
            source, handling = file_source(function, source.files, handling)
        return BatchJobSpec(
            model=model,
            function=function,
            source=source,
            column_handling=handling,
            job_name=name,
            compute_pool=Identifier.parse(compute_pool, what="compute_pool"),
            output_location=output_location,
            params=params,
            partition_column=_column(options.pop("partition_column", None)),
            **options,
        )

    def start_batch_job(
        self,
        spec: BatchJobSpec,
        *,
        try_number: int = 1,
        strict_input_validation: bool = False,
        require_rows: bool = False,
        rescore: fingerprint.Rescore = "if_changed",
    ) -> JobStart:
        """Re-attach to this task's job if one is running or done; otherwise validate and submit.

        The job of try ``n`` is named ``<job_name>`` (n = 1) or ``<job_name>_T<n>``. The newest job of
        earlier tries decides: active → re-attach; DONE → nothing to do (without ``_SUCCESS`` too, with
        a WARNING that the job's status stood in for the marker); failed, cancelled, being cancelled
        (``CANCELLING``: a cleared or marked try's kill is stopping it) or lost → a new job under this
        try's name. Before submitting, the
        names of earlier tries that hold no job are dropped, which removes what a submission killed
        half-way left behind. ``require_rows``: see :meth:`validate_input`.

        ``rescore`` (docs/rescoring.rst): a job that ended DONE with ``_SUCCESS`` is reused only with
        ``"if_changed"`` and when the record of what it scored matches this run's fingerprint; otherwise a
        new job is submitted under this try's name. The record of the new job's folder is written
        before it is submitted.
        """
        fingerprint.check_rescore(rescore)
        self.forget_input_digests()
        decision = jobs.decide(
            jobs.job_names(spec.job_name, try_number),
            lambda name: self.find_job(name.sql),
            lambda name: self.has_success_marker(replace(spec, job_name=name).job_output_location),
            lambda name: self.job_reuse(replace(spec, job_name=name), rescore),
        )
        if (found := decision.state) is not None:  # REATTACH or REUSE
            if decision.action is jobs.Action.REUSE:
                if decision.without_marker:
                    location = replace(spec, job_name=decision.job_name).job_output_location
                    log.warning("%s", results.status_stood_in(found.job_id, location))
                log.warning(
                    "Reusing job %s instead of scoring again: %s (rescore=%r).",
                    found.job_id,
                    decision.reason,
                    rescore,
                )
            else:
                log.info(
                    "Re-attaching to job %s (%s) instead of submitting a new one.",
                    found.job_id,
                    found.status.value,
                )
            return JobStart.of(
                replace(spec, job_name=decision.job_name),
                found,
                reattached=True,
                reused=decision.action is jobs.Action.REUSE,
            )
        if decision.reason:
            log.warning("%s; submitting a new job.", decision.reason)
        target = replace(spec, job_name=decision.job_name)
        # Inputs are checked before anything is dropped, removed or submitted.
        if target.source.files is not None:
            target = replace(target, source=InputSource(files=self.list_input_files(target.source.files)))
        handling = self.validate_input(
            target.source,
            target.function,
            strict=strict_input_validation,
            column_handling=target.column_handling,
            batch=True,
            require_rows=require_rows,
        )
        target = replace(target, column_handling=handling)
        for name in decision.drop:
            self.drop_job(name.sql)
        if (stale := decision.stale) is not None:
            # This try's own name is taken by a finished job that did not succeed: clear it first.
            self._idempotent(lambda b: b.drop_job(stale.job_id))
            self._idempotent(lambda b: b.remove_files(target.job_output_location))
        self.validate_output_location(
            target.output_location,
            target.job_output_location,
            source=target.source,
            save_mode=target.save_mode,
            file_inputs=target.source.stage_location is not None or bool(target.column_handling),
        )
        # Of the spec as the operator built it (before the handling is normalized and files listed): the
        # fingerprint a later run compares with is made from the same arguments.
        current = self.batch_fingerprint(spec)
        folder = target.job_output_location.sql
        self.record_scoring_run(
            target.job_name, fingerprint.record(folder, "{}", current, job_id=target.job_name.sql)
        )
        job_id = self.backend.submit_job(target)
        log.info("Submitted batch inference job %s; results go to %s", job_id, target.job_output_location.sql)
        return JobStart.of(target, self.get_job_state(job_id), reattached=False)

    def find_job(self, job_id: str) -> JobState | None:
        """The state of a job, or None when it does not exist."""
        job = self.qualify(job_id, what="job_id").sql
        return self._idempotent(lambda b: b.get_job_state(job))

    def get_job_state(self, job_id: str) -> JobState:
        state = self.find_job(job_id)
        if state is None:
            raise BatchJobError(f"Batch inference job {job_id} does not exist (or was dropped).")
        return state

    def get_job_states(self, job_ids: Sequence[str]) -> dict[str, JobState | None]:
        """The states of several jobs, keyed by the ids as given (None: no such job).

        One look-up per schema on Snowflake (``SHOW JOB SERVICES``), however many jobs: the triggerer's
        shared status poller (:mod:`airflow_snowflake_batch.triggers.status_poller`) asks this for every
        job its triggers watch.
        """
        qualified = {job_id: self.qualify(job_id, what="job_id").sql for job_id in job_ids}
        found = self._idempotent(lambda b: b.get_job_states(sorted(set(qualified.values()))))
        return {job_id: found.get(job) for job_id, job in qualified.items()}

    def wait_for_job(
        self,
        job_id: str,
        *,
        poll_interval: float,
        deadline: float | None = None,
        output_location: str | StageLocation | None = None,
        progress_interval: float = PROGRESS_INTERVAL,
    ) -> JobState:
        """Poll until the job ends; at ``deadline`` (epoch seconds) cancel it and raise.

        With ``output_location`` (the job's folder), log its progress at most once per
        ``progress_interval`` seconds (:mod:`airflow_snowflake_batch.inference.progress`).
        """
        progress = ProgressLog(time.monotonic(), progress_interval) if output_location is not None else None
        while True:
            state = self.get_job_state(job_id)
            if state.status.is_terminal:
                return state
            if deadline is not None and time.time() >= deadline:
                self.cancel_job(job_id)
                raise BatchJobError(
                    f"Batch inference job {job_id} timed out while {state.status.value}; it was cancelled."
                )
            log.info("Job %s is %s; next check in %ss.", job_id, state.status.value, poll_interval)
            if progress is not None and output_location is not None and progress.due(time.monotonic()):
                self.log_job_progress(job_id, output_location, progress)
            time.sleep(
                poll_interval if deadline is None else max(0.0, min(poll_interval, deadline - time.time()))
            )

    def log_job_progress(
        self, job_id: str, output_location: str | StageLocation, progress: ProgressLog
    ) -> str | None:
        """Read the running job's progress (one backend call) and log it; best effort: a failed read is
        logged and the wait goes on. Returns the line logged."""
        try:
            found = self.get_job_progress(job_id, output_location)
        except Exception as exc:  # noqa: BLE001 - progress is advisory; the status check decides
            log.info("Could not read the progress of job %s: %s", job_id, exc)
            return None
        if found is None:
            return None
        line = progress.line(job_id, time.monotonic(), found.done, found.total, found.unit)
        log.info("%s", line)
        return line

    def get_job_progress(self, job_id: str, output_location: str | StageLocation) -> JobProgress | None:
        """How far the running job got (:class:`~airflow_snowflake_batch.backends.base.JobProgress`)."""
        job = self.qualify(job_id, what="job_id").sql
        location = self.parse_location(output_location, what="output_location")
        return self._idempotent(lambda b: b.get_job_progress(job, location))

    def get_job_usage(self, job_id: str) -> JobUsage:
        """What the finished job used, for its ``cost`` (:func:`~airflow_snowflake_batch.utils.cost.batch_job_cost`)."""
        job = self.qualify(job_id, what="job_id").sql
        return self._idempotent(lambda b: b.get_job_usage(job))

    def cancel_job(self, job_id: str) -> None:
        job = self.qualify(job_id, what="job_id").sql
        self._idempotent(lambda b: b.cancel_job(job))

    async def a_cancel_job(self, job_id: str) -> None:
        """Async version of :meth:`cancel_job`."""
        await in_thread(self.cancel_job, job_id)

    def get_job_logs(self, job_id: str) -> str:
        job = self.qualify(job_id, what="job_id").sql
        return self._idempotent(lambda b: b.get_job_logs(job))

    def drop_job(self, job_id: str) -> None:
        job = self.qualify(job_id, what="job_id").sql
        self._idempotent(lambda b: b.drop_job(job))

    def job_url(self, job_id: str, output_location: str | StageLocation) -> str:
        """A link to the job for the task's extra link: its Snowsight page or local output folder."""
        location = self.parse_location(output_location, what="output_location")
        return self.backend.job_url(self.qualify(job_id, what="job_id").sql, location)

    # -- retention -------------------------------------------------------------------------------

    def plan_cleanup(
        self,
        *,
        output_stage_location: str,
        older_than: timedelta,
        job_schema: str | None = None,
        job_name_prefix: str = DEFAULT_JOB_PREFIX,
        now: datetime | None = None,
    ) -> retention.CleanupPlan:
        """The finished jobs and the folders under ``output_stage_location`` older than ``older_than`` that no
        running job uses (rules: :mod:`airflow_snowflake_batch.inference.retention`). Removes nothing.

        :param output_stage_location: The batch operator's ``output_stage_location``.
        :param older_than: Minimum age of what is removed.
        :param job_schema: ``SCHEMA`` or ``DATABASE.SCHEMA`` of the jobs; default: the connection's.
        :param job_name_prefix: Only jobs and job folders whose names start with it are candidates.
        :param now: The time ages are measured from (default: now).
        """
        retention.check_older_than(older_than)
        retention.check_job_name_prefix(job_name_prefix)
        location = self.parse_location(output_stage_location, what="output_stage_location")
        database, schema = retention.job_schema(
            job_schema, self.backend.default_database, self.backend.default_schema
        )
        listed = self._idempotent(lambda b: b.list_jobs(database, schema))
        files = self._idempotent(lambda b: b.list_file_details(location))
        return retention.plan_cleanup(
            jobs=listed,
            files=files,
            output_location=location,
            cutoff=(now or datetime.now(timezone.utc)) - older_than,
            job_name_prefix=job_name_prefix,
        )

    def run_cleanup(self, plan: retention.CleanupPlan) -> None:
        """Drop the plan's job services, then remove its folders (each step is safe to repeat)."""
        for job_id in plan.drop_jobs:
            log.info("Dropping finished batch inference job %s.", job_id)
            self.drop_job(job_id)
        for folder in plan.remove_folders:
            log.info("Removing %s.", folder.sql)
            self._idempotent(lambda b, f=folder: b.remove_files(f))  # type: ignore[misc]

    # -- results -------------------------------------------------------------------------------

    def list_files(self, location: str | StageLocation) -> list[str]:
        parsed = self.parse_location(location, what="location")
        return self._idempotent(lambda b: b.list_files(parsed))

    def has_success_marker(self, location: str | StageLocation) -> bool:
        return SUCCESS_FILE in self.list_files(location)

    def load_results(
        self,
        *,
        output_location: str | None,
        target_table: str,
        mode: TableMode = "append",
        output_partition: dict[str, PartitionValue] | None = None,
        create_table_if_missing: bool = True,
        require_success: bool = True,
        map_index: int | None = None,
        job_id: str | None = None,
    ) -> tuple[ObjectName, int]:
        """Load a job folder's Parquet files into a table; return (table, rows loaded).

        With ``output_partition`` only the partition's rows are replaced, atomically, whatever the
        mode; with ``overwrite`` the table's rows are; with ``append`` each file is loaded once (load
        history), so loading the same job twice never duplicates rows. A folder with ``_SUCCESS``
        and no Parquet file (an empty input) loads 0 rows. ``map_index``: as in
        :meth:`run_warehouse_inference`.

        A folder without ``_SUCCESS`` is refused (``require_success``) unless ``job_id``, the job that
        wrote it, ended DONE: its status then stands in for the marker, with a WARNING.
        """
        location = self.parse_location(
            results.check_output_location_given(output_location), what="output_location"
        ).check_loadable()
        table = self.qualify(target_table, what="target_table")
        files = self.list_files(location)
        job = self.find_job(job_id) if job_id and require_success and SUCCESS_FILE not in files else None
        if results.check_success(location, files, require_success=require_success, job=job):
            log.warning(results.status_stood_in(str(job_id), location))
        if not create_table_if_missing and not self._idempotent(lambda b: b.table_exists(table)):
            raise InputValidationError(
                f"Target table {table.sql} does not exist and create_table_if_missing is False."
            )
        request = LoadResultsRequest(
            location=location,
            target_table=table,
            mode=mode,
            partition=replace_key(results.parse_partition(output_partition), mode, map_index),
            create_table_if_missing=create_table_if_missing,
            parquet_files=results.parquet_files(files),
        )
        if not request.parquet_files:
            log.info("%s holds no Parquet file (an empty input): loading 0 rows.", location.sql)
        # Loaded rows replace what a warehouse run recorded for this partition (docs/rescoring.rst).
        self.forget_scores(table, fingerprint.partition_key(request.partition))
        return table, self.backend.load_results(request)


def _column(name: str | None) -> str | None:
    return None if not name else Identifier.parse(name, what="column name").value
