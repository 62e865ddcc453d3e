"""Operator that runs a Snowflake batch inference job (``ModelVersion.run_batch()`` on SPCS)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.providers.common.compat.sdk import BaseOperator, ResumableJobMixin, conf

from airflow_snowflake_batch.constants import SUCCESS_FILE
from airflow_snowflake_batch.exceptions import BatchJobError
from airflow_snowflake_batch.identifiers import ObjectName, default_job_name
from airflow_snowflake_batch.inference.fingerprint import check_rescore
from airflow_snowflake_batch.inference.progress import PROGRESS_INTERVAL
from airflow_snowflake_batch.inference.results import parquet_files, status_stood_in
from airflow_snowflake_batch.job_status import BatchJobStatus
from airflow_snowflake_batch.links import JOB_XCOM_KEY, SnowflakeBatchJobLink
from airflow_snowflake_batch.triggers.events import BatchJobEvent, BatchJobOutcome
from airflow_snowflake_batch.utils import lineage
from airflow_snowflake_batch.utils.arguments import as_int, check_model_params_given, seconds
from airflow_snowflake_batch.utils.assets import annotate_outlet_events
from airflow_snowflake_batch.utils.connection import (
    CONNECTION_TEMPLATE_FIELDS,
    DEFAULT_CONN_ID,
    SnowflakeConnectionMixin,
)
from airflow_snowflake_batch.utils.cost import batch_job_cost
from airflow_snowflake_batch.utils.job_wait import (
    copy_job_logs,
    deadline_passed,
    defer_timeout,
    end_wait,
    job_deadline,
)

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.sdk import Context

    from airflow_snowflake_batch.backends.base import BatchJobSpec
    from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook
    from airflow_snowflake_batch.job_status import JobState

# Statuses reported to ResumableJobMixin for a stored job id that cannot be re-attached to.
_MISSING = "MISSING"
# A job that ended DONE whose results are not reused (its fingerprint differs, or rescore="always").
_CHANGED = "DONE_BUT_CHANGED"
_RESOURCE_KEYS = {"cpu": "cpu_requests", "memory": "memory_requests", "gpu": "gpu_requests"}


@dataclass(frozen=True)
class _Job:
    """The job a try waits on: what it publishes (XCom, link) and hands to ``execute_complete``."""

    job_id: str
    job_name: str
    output_location: str
    url: str = ""
    # An earlier try's job (re-attached): its cancellation may be that try's kill, not a failure of this one.
    reattached: bool = False
    # The status when the job was found or submitted; None for a job known only by its id.
    state: JobState | None = None
    # The version the registry resolved when this try built the job (for lineage); None otherwise.
    model_version: str | None = None
    # A finished job whose results stand for this run (rescore="if_changed" and nothing changed).
    reused: bool = False

    def xcom(self) -> dict[str, str]:
        """The published description (XCom ``snowflake_batch_job``, the ``job`` kwarg of a deferral)."""
        return {
            "job_id": self.job_id,
            "job_name": self.job_name,
            "output_location": self.output_location,
            "url": self.url,
        }

    def result(self, status: BatchJobStatus) -> dict[str, Any]:
        """The task's return value."""
        return {
            "job_id": self.job_id,
            "job_name": self.job_name,
            "status": status.value,
            "output_location": self.output_location,
            "reused": self.reused,
        }


class SnowflakeBatchInferenceOperator(SnowflakeConnectionMixin, ResumableJobMixin, BaseOperator):
    """
    Score a table, query, stage of Parquet files or folder of files with a Model Registry model as an SPCS batch inference job.

    Results land as Parquet files and a ``_SUCCESS`` marker in the job's own folder,
    ``<output_stage_location>/<JOB_NAME>/``; load them with
    :class:`~airflow_snowflake_batch.operators.load_results.SnowflakeLoadBatchResultsOperator`.

    The job name is deterministic per task instance, so a retry re-attaches to the job of an earlier
    try (or finishes at once if it already succeeded and nothing changed) instead of paying for a
    duplicate; a failed or cancelled job is never reported as success, a retry submits
    ``<JOB_NAME>_T<try>``. Killing the
    task, or reaching ``timeout``/``execution_timeout``, cancels the job, also while deferred.
    Clearing a running or deferred task never fails its new try: the new try does not re-attach to
    a job being cancelled, and if the earlier try's kill cancels a job the new try had re-attached
    to, the new try submits its own job (``<JOB_NAME>_T<try>``) and waits for that one instead.

    A rerun rescores only what changed (docs/rescoring.rst): a finished job is reused only when the
    record of what it scored (``AIRFLOW_SCORING_RUNS`` in the job's schema, written before the job was
    submitted) matches this run's model version, function, options and input; otherwise this try submits
    its own job. A job still running is re-attached to.

    Returns and pushes (one XCom per key) ``{"job_id", "job_name", "status", "output_location",
    "reused", "cost"}`` (``cost`` once the job ended: :func:`~airflow_snowflake_batch.utils.cost.batch_job_cost`;
    also in the task log and the OpenLineage ``snowflakeRunCost`` run facet); each :class:`~airflow.sdk.Asset` in ``outlets`` gets an event whose ``extra`` holds
    ``job_id``, ``output_location`` and ``reused``.

    .. seealso::
        :class:`~airflow_snowflake_batch.sensors.batch_job.SnowflakeBatchInferenceJobSensor` to wait for a
        job submitted with ``wait_for_completion=False``;
        :class:`~airflow_snowflake_batch.operators.cleanup.SnowflakeBatchInferenceCleanupOperator` to
        drop old jobs and folders; Snowflake's guide to batch inference jobs,
        https://docs.snowflake.com/en/developer-guide/snowflake-ml/inference/batch

    :param model_name: Registry model, ``NAME``, ``SCHEMA.NAME`` or ``DB.SCHEMA.NAME``. (templated)
    :param version_name: Version or alias; None uses the model's default version. (templated)
    :param function_name: Model function, e.g. ``predict``; needed when the model has several. (templated)
    :param input_table: Table to score. Exactly one input must be given. (templated)
    :param input_query: SELECT to score, or a path to a ``.sql`` file. (templated)
    :param input_stage_location: Stage folder of Parquet input files, ``@DB.SC.STAGE/path/``. (templated)
    :param input_files: Stage folder of files (images, audio, video...) to score one by one,
        ``@DB.SC.STAGE/path/``: the operator builds the input itself, one row per file, the file's full
        stage path in the column of the model's file feature, which stays in the results. (templated)
    :param file_pattern: Regular expression a file's path below ``input_files`` must fully match to be
        scored, e.g. ``".*[.]png"``; None scores every file. (templated)
    :param file_column: The model input the files feed; needed only when the function has several BYTES
        or STRING inputs. A BYTES input gets the raw bytes, a STRING input base64, unless
        ``column_handling`` says otherwise. (templated)
    :param compute_pool: SPCS compute pool running the job. (templated)
    :param output_stage_location: Internal stage folder under which the job's folder is created. (templated)
    :param save_mode: ``"error"`` (the job's folder must be empty) or ``"overwrite"``.
    :param replicas: Number of job replicas. (templated)
    :param num_workers: Inference workers per replica. (templated)
    :param max_batch_rows: Rows per inference batch. (templated)
    :param resources: Requests per replica, any of ``{"cpu": "4", "memory": "8Gi", "gpu": "1"}``. (templated)
    :param model_params: Inference parameters of the model function, e.g. ``{"temperature": 0.2}``, sent
        to the model as given. ``{}`` runs the model with its defaults. A value may be a template, e.g.
        ``{"temperature": "{{ params.temperature }}"}`` so a DAG ``Param`` picks it at trigger time; it
        renders as text unless the DAG sets ``render_template_as_native_obj=True``. (templated)
    :param params: Airflow's own task params (merged with the DAG's), for templates; never sent to the
        model. While ``model_params`` is not given, a ``params`` key naming a parameter of the model
        function fails the task before anything is submitted (earlier releases sent ``params`` to the
        model): pass ``model_params`` (``{}`` for the model's defaults) to choose.
    :param column_handling: Per-column input handling, e.g.
        ``{"IMG": {"input_format": "full_stage_path", "convert_to": "base64"}}``. (templated)
    :param partition_column: Column partitioning the input of a partitioned model function. (templated)
    :param engine: Inference engine, e.g. ``"VLLM"``, for models that support one.
    :param engine_args_override: Extra engine arguments, e.g. ``["--max-model-len=4096"]``.
    :param image_repo: Image repository for the inference image. (templated)
    :param force_rebuild: Rebuild the inference image even if one exists.
    :param job_name: Job name; default ``AIRFLOW_BATCH_<hash of dag, task, run, map index>``. (templated)
    :param wait_for_completion: Wait for the job to end; False returns right after submitting or re-attaching.
    :param deferrable: Wait on the triggerer instead of a worker slot.
        Default: ``[operators] default_deferrable``.
    :param poll_interval: Seconds between status checks.
    :param progress_interval: Seconds between two progress lines of the running job in the task log
        (rows or files scored so far and the time left; on the triggerer's log when deferred): each
        costs one backend call (default a minute).
    :param timeout: Longest wait for the job (seconds or timedelta); then it is cancelled and the task
        fails. None waits without limit (``execution_timeout`` still applies, also while deferred).
    :param cancel_on_kill: Cancel the job when the task is killed, marked or cleared.
    :param fail_on_empty_input: Fail when the input has no rows: a table or query is counted before
        anything is submitted (in the query that checks NULLs, or one ``COUNT(*)``); Parquet input
        (``input_stage_location``) is known empty only when the job ends with no output file. By default
        an empty input succeeds with a WARNING naming the input (its folder then holds only ``_SUCCESS``).
    :param rescore: ``"if_changed"`` (default): reuse a finished job of this task only when its recorded
        fingerprint (model version, function, ``model_params``, ``column_handling``..., and the input's
        ``HASH_AGG`` and row count, or its files' listing) equals this run's; otherwise submit a new job.
        ``"always"``: submit a new job unless one is running.
    :param snowflake_conn_id: Connection, ``snowflake`` or ``snowflake_batch_local`` type. (templated)
    :param database: Database for unqualified names, overriding the connection's. (templated)
    :param schema: Schema for unqualified names, overriding the connection's. (templated)
    :param warehouse: Warehouse overriding the connection's. (templated)
    :param role: Role overriding the connection's. (templated)
    """

    template_fields: Sequence[str] = (
        "model_name",
        "version_name",
        "function_name",
        "input_table",
        "input_query",
        "input_stage_location",
        "input_files",
        "file_pattern",
        "file_column",
        "compute_pool",
        "output_stage_location",
        "replicas",
        "num_workers",
        "max_batch_rows",
        "job_resources",
        "model_params",
        "column_handling",
        "partition_column",
        "image_repo",
        "job_name",
        *CONNECTION_TEMPLATE_FIELDS,
    )
    template_ext: Sequence[str] = (".sql",)
    template_fields_renderers = {
        "input_query": "sql",
        "job_resources": "json",
        "model_params": "json",
        "column_handling": "json",
    }
    operator_extra_links = (SnowflakeBatchJobLink(),)
    # Never rename: a retry reads the id an earlier try stored under this key.
    external_id_key = "snowflake_batch_inference_job_id"

    def __init__(
        self,
        *,
        model_name: str,
        version_name: str | None = None,
        function_name: str | None = None,
        input_table: str | None = None,
        input_query: str | None = None,
        input_stage_location: str | None = None,
        input_files: str | None = None,
        file_pattern: str | None = None,
        file_column: str | None = None,
        compute_pool: str,
        output_stage_location: str,
        save_mode: str = "error",
        replicas: int | str | None = None,
        num_workers: int | str | None = None,
        max_batch_rows: int | str | None = None,
        resources: dict[str, str] | None = None,
        model_params: Mapping[str, Any] | None = None,
        params: MutableMapping[str, Any] | None = None,
        column_handling: dict[str, dict[str, str]] | None = None,
        partition_column: str | None = None,
        engine: str | None = None,
        engine_args_override: Sequence[str] | None = None,
        image_repo: str | None = None,
        force_rebuild: bool = False,
        job_name: str | None = None,
        wait_for_completion: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 30.0,
        progress_interval: float = PROGRESS_INTERVAL,
        timeout: float | timedelta | None = timedelta(hours=24),
        cancel_on_kill: bool = True,
        fail_on_empty_input: bool = False,
        rescore: str = "if_changed",
        snowflake_conn_id: str = DEFAULT_CONN_ID,
        database: str | None = None,
        schema: str | None = None,
        warehouse: str | None = None,
        role: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("multiple_outputs", True)
        super().__init__(params=params, **kwargs)
        if save_mode not in ("error", "overwrite"):
            raise ValueError(f"save_mode must be 'error' or 'overwrite', got {save_mode!r}.")
        self.model_name = model_name
        self.version_name = version_name
        self.function_name = function_name
        self.input_table = input_table
        self.input_query = input_query
        self.input_stage_location = input_stage_location
        self.input_files = input_files
        self.file_pattern = file_pattern
        self.file_column = file_column
        self.compute_pool = compute_pool
        self.output_stage_location = output_stage_location
        self.save_mode = save_mode
        self.replicas = replicas
        self.num_workers = num_workers
        self.max_batch_rows = max_batch_rows
        # BaseOperator.resources means executor resources; these are the job's.
        self.job_resources = resources
        self.model_params = model_params
        self.column_handling = column_handling
        self.partition_column = partition_column
        self.engine = engine
        self.engine_args_override = tuple(engine_args_override or ())
        self.image_repo = image_repo
        self.force_rebuild = force_rebuild
        self.job_name = job_name
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.fail_on_empty_input = fail_on_empty_input
        self.rescore = check_rescore(rescore)
        interval = seconds(poll_interval, what="poll_interval")
        if interval is None:
            raise ValueError("poll_interval must be a number of seconds, got None.")
        self.poll_interval: float = interval
        progress = seconds(progress_interval, what="progress_interval")
        if progress is None or not progress > 0:
            raise ValueError(
                f"progress_interval must be a positive number of seconds, got {progress_interval!r}."
            )
        self.progress_interval: float = progress
        self.timeout = seconds(timeout, what="timeout")
        self.cancel_on_kill = cancel_on_kill
        self.set_connection(snowflake_conn_id, database, schema, warehouse, role)
        # The job this run of the task published last: what on_kill cancels and lineage reports.
        self._job: _Job | None = None
        # The finished job's cost (XCom ``cost``), for the OpenLineage run facet.
        self._cost: dict[str, Any] | None = None
        # The hook of the execute/execute_complete call under way (one Snowflake session for all its
        # steps); the ResumableJobMixin adapters, which get only the context, reach it here.
        self._hook: SnowflakeBatchInferenceHook | None = None
        # get_job_status found the stored job's results reusable (the sync path's reuse).
        self._reused = False

    # -- the lifecycle: decide -> publish -> wait or defer -> finish ----------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        self._job = None
        self._cost = None
        self._reused = False
        with self._session(context) as hook:
            if self.wait_for_completion and not self.deferrable:
                # On Airflow 3.3+ ResumableJobMixin first tries the job id an earlier try stored; its
                # adapters below run the same steps. It returns None when it re-attached (it hands back
                # poll_until_complete's value), so the result is read from the job published last,
                # which succeeded: every other outcome raised.
                self.execute_resumable(context)
                assert self._job is not None
                return self._completed(context, self._job.result(BatchJobStatus.DONE))
            job = self._publish(context, hook, self._decide(context, hook))
            return self._completed(context, self._defer_or_return(context, hook, job))

    def execute_complete(
        self,
        context: Context,
        event: dict[str, Any] | None = None,
        job: dict[str, str] | None = None,
        reattached: bool = False,
    ) -> dict[str, str]:
        """Resume after the trigger fired: runs on a new instance, so only the keyword arguments count.

        ``job`` is the description pushed before deferring; ``dag.test()`` drops defer kwargs, so
        without it the description is rebuilt from the event's job id. ``reattached`` tells that the
        job was an earlier try's: if it was cancelled, this try submits its own and defers again.
        """
        parsed = BatchJobEvent.from_dict(event, task=f"Task {self.task_id}")
        with self._session(context) as hook:
            waited = self._resumed_job(hook, parsed, job, reattached)
            self._job = waited
            if self._cancelled_under_this_try(waited, parsed):
                resubmitted = self._publish(context, hook, self._decide(context, hook, resubmission=True))
                return self._defer_or_return(context, hook, resubmitted)
            return self._completed(context, self._finish(hook, waited, parsed))

    def _completed(self, context: Context, result: dict[str, Any]) -> dict[str, Any]:
        """The result of a try whose job succeeded (or was reused): its asset events say which. A
        finished job's result carries its ``cost`` (a job still running, ``wait_for_completion=False``, has none)."""
        if result.get("status") == BatchJobStatus.DONE.value:
            result = {**result, "cost": self._job_cost(result)}
        annotate_outlet_events(
            self,
            context,
            {
                "job_id": result["job_id"],
                "output_location": result["output_location"],
                "reused": bool(result.get("reused")),
            },
        )
        return result

    def _job_cost(self, result: Mapping[str, Any]) -> dict[str, Any]:
        """The ended job's cost (zero when reused), logged; never fails the task that succeeded."""
        usage = None
        if not result.get("reused") and self._hook is not None:
            try:
                usage = self._hook.get_job_usage(result["job_id"])
            except Exception as exc:  # noqa: BLE001 - the scores are written; a missing figure is logged
                self.log.warning("Could not read what job %s used: %s", result["job_id"], exc)
        self._cost = batch_job_cost(usage, reused=bool(result.get("reused")))
        self.log.info("Cost: %s", self._cost)
        return self._cost

    def _build_spec(self, context: Context, hook: SnowflakeBatchInferenceHook) -> BatchJobSpec:
        """The job this task describes, with names resolved and values checked."""
        source = hook.input_source(
            input_table=self.input_table,
            input_query=self.input_query,
            input_stage_location=self.input_stage_location,
            input_files=self.input_files,
            file_pattern=self.file_pattern,
            file_column=self.file_column,
        )
        return hook.build_batch_job_spec(
            model_name=self.model_name,
            version_name=self.version_name,
            function_name=self.function_name,
            source=source,
            compute_pool=self.compute_pool,
            output_stage_location=self.output_stage_location,
            job_name=self._job_name(context),
            **self._spec_options(),
        )

    def _decide(
        self, context: Context, hook: SnowflakeBatchInferenceHook, *, resubmission: bool = False
    ) -> _Job:
        """Submit this try's job, or re-attach to or reuse an earlier try's: the hook's
        ``start_batch_job`` decides from the jobs under this task's names.

        ``resubmission``: this try's re-attached job was cancelled from outside; the job decided
        now is never treated as re-attached, so a try resubmits at most once.
        """
        spec = self._build_spec(context, hook)
        check_model_params_given(self.model_params, self.params, spec.function, task=self.task_id)
        start = hook.start_batch_job(
            spec,
            try_number=context["ti"].try_number,
            require_rows=self.fail_on_empty_input,
            rescore=self.rescore,
        )
        return _Job(
            job_id=start.job_id,
            job_name=start.job_name,
            output_location=start.output_location.sql,
            reattached=start.reattached and not resubmission,
            state=start.state,
            model_version=spec.model.version.value,
            reused=start.reused,
        )

    def _publish(self, context: Context, hook: SnowflakeBatchInferenceHook, job: _Job) -> _Job:
        """Push the job (with its link) and store its id before any wait or deferral, so a failed or
        deferred task still shows it, ``on_kill`` can cancel it and a retry can re-attach to it."""
        try:
            job = replace(job, url=hook.job_url(job.job_id, job.output_location))
        except Exception as exc:
            self.log.warning("Could not build the link of job %s: %s", job.job_id, exc)
        self._job = job
        context["ti"].xcom_push(key=JOB_XCOM_KEY, value=job.xcom())
        # ResumableJobMixin stores the id only after its own submit_job; the deferrable path and a
        # resubmission after a cancel have no mixin step that would.
        store = context.get("task_state_store")
        if store is not None and getattr(self, "durable", False):
            store.set(self.external_id_key, job.job_id)
        return job

    def _defer_or_return(
        self, context: Context, hook: SnowflakeBatchInferenceHook, job: _Job
    ) -> dict[str, str]:
        """The deferrable and fire-and-forget paths after publishing: an ended job finishes at once,
        a running one is returned (``wait_for_completion=False``) or waited for on the triggerer."""
        assert job.state is not None
        if job.state.status.is_terminal:
            return self._finish(hook, job, BatchJobEvent.from_state(job.state))
        if not self.wait_for_completion:
            return job.result(job.state.status)
        self._defer(context, job)

    def _defer(self, context: Context, job: _Job) -> NoReturn:
        # Imported here: DAG files import this module at every parse, and only deferring needs the trigger.
        from airflow_snowflake_batch.triggers.batch_job import SnowflakeBatchInferenceJobTrigger

        deadline = job_deadline(context, self.timeout, self.execution_timeout)
        self.defer(
            trigger=SnowflakeBatchInferenceJobTrigger(
                job_id=job.job_id,
                snowflake_conn_id=self.snowflake_conn_id,
                poll_interval=self.poll_interval,
                deadline=deadline,
                cancel_on_timeout=True,
                cancel_on_kill=self.cancel_on_kill,
                hook_params=self.hook_params(context),
                output_location=job.output_location,
                progress_interval=self.progress_interval,
            ),
            method_name="execute_complete",
            kwargs={"job": job.xcom(), "reattached": job.reattached},
            timeout=defer_timeout(deadline, self.poll_interval),
        )

    def _wait(self, context: Context, hook: SnowflakeBatchInferenceHook, job: _Job) -> BatchJobEvent:
        """Wait on this worker until the job ends or the deadline passes (the hook then cancels it)."""
        deadline = job_deadline(context, self.timeout, self.execution_timeout)
        try:
            state = hook.wait_for_job(
                job.job_id,
                poll_interval=self.poll_interval,
                deadline=deadline,
                output_location=job.output_location,
                progress_interval=self.progress_interval,
            )
        except BatchJobError:
            if not deadline_passed(deadline):
                copy_job_logs(hook, job.job_id, failed=True, log=self.log)
                raise
            # The same outcome as a deferred wait whose trigger reached the deadline.
            return BatchJobEvent(
                BatchJobOutcome.TIMEOUT,
                job.job_id,
                BatchJobStatus.CANCELLING,
                f"Job {job.job_id} did not finish before its deadline and was cancelled.",
            )
        return BatchJobEvent.from_state(state)

    def _finish(self, hook: SnowflakeBatchInferenceHook, job: _Job, event: BatchJobEvent) -> dict[str, str]:
        """The single completion path: copy logs, raise unless the job succeeded with its ``_SUCCESS``
        marker, return the result."""
        end_wait(hook, event, log=self.log, output_location=job.output_location)
        files = hook.list_files(job.output_location)
        if SUCCESS_FILE not in files:
            # end_wait raised for any other end: the service's DONE is the job's own word that it finished.
            self.log.warning(status_stood_in(event.job_id, job.output_location))
        if not parquet_files(files):
            message = f"Batch inference job {event.job_id} scored no rows: its input was empty"
            if self.fail_on_empty_input:
                raise BatchJobError(f"{message} and fail_on_empty_input is True.")
            self.log.warning(
                "%s (%s holds only %s). Set fail_on_empty_input=True to fail instead.",
                message,
                job.output_location,
                SUCCESS_FILE,
            )
        return job.result(event.job_status)

    def _cancelled_under_this_try(self, job: _Job, event: BatchJobEvent) -> bool:
        """Whether an earlier try's job this try re-attached to was cancelled while this try waited.

        This try did not cancel it (its own kill would have ended this try), so the cancel came
        from outside: most often the earlier try's ``on_kill`` when that try was cleared or marked
        (the triggerer may process the clear after the new try re-attached). Failing would turn a
        clear into a failed try, so the new try submits its own job instead.
        """
        if not (job.reattached and event.job_status.is_cancelled):
            return False
        self.log.warning(
            "Job %s of an earlier try was cancelled after this try re-attached to it (the earlier try "
            "was cleared or marked); submitting this try's own job.",
            event.job_id,
        )
        return True

    # -- ResumableJobMixin adapters (the synchronous path) -------------------------------------------

    def submit_job(self, context: Context) -> str:
        hook = self._session_hook()
        return self._publish(context, hook, self._decide(context, hook)).job_id

    def get_job_status(self, external_id: Any, context: Context) -> str:
        hook = self._session_hook()
        state = hook.find_job(str(external_id))
        if state is None:
            return _MISSING
        if state.status.is_success:
            # The mixin would return this finished job's results as they are: only when nothing changed.
            # (A folder without _SUCCESS: the finish logs that the job's DONE stood in for the marker.)
            check = hook.job_reuse(self._build_spec(context, hook), self.rescore, job_id=str(external_id))
            if not check.reuse:
                self.log.warning(
                    "Job %s finished, but its results are not reused: %s; submitting a new job.",
                    external_id,
                    check.reason,
                )
                return _CHANGED
            self.log.warning("Reusing job %s instead of scoring again: %s.", external_id, check.reason)
            self._reused = True
        return state.status.value

    def is_job_active(self, status: str) -> bool:
        # A job being cancelled (a cleared or marked try's kill) is never re-attached to: submit_job
        # then lets the hook decide, which submits this try's own job, as start_batch_job does.
        return (
            status in BatchJobStatus._value2member_map_
            and BatchJobStatus(status).is_active
            and status != BatchJobStatus.CANCELLING.value
        )

    def is_job_succeeded(self, status: str) -> bool:
        return status == BatchJobStatus.DONE.value

    def poll_until_complete(self, external_id: Any, context: Context) -> None:
        hook = self._session_hook()
        # Nothing published yet: the mixin re-attached through the id an earlier try stored.
        job = self._job or self._publish(context, hook, self._stored_job(hook, external_id))
        event = self._wait(context, hook, job)
        if self._cancelled_under_this_try(job, event):
            job = self._publish(context, hook, self._decide(context, hook, resubmission=True))
            event = self._wait(context, hook, job)
        self._finish(hook, job, event)

    def get_job_result(self, external_id: Any, context: Context) -> dict[str, str]:
        if self._job is None:  # the stored job had already succeeded: nothing polled or finished it
            hook = self._session_hook()
            job = self._publish(
                context, hook, replace(self._stored_job(hook, external_id), reused=self._reused)
            )
            return self._finish(hook, job, BatchJobEvent.from_state(hook.get_job_state(job.job_id)))
        return self._job.result(BatchJobStatus.DONE)

    # -- helpers -------------------------------------------------------------------------------

    def on_kill(self) -> None:
        """Cancel the job when the task is killed. Best effort: a failure is logged, never raised,
        so Airflow's own clean-up of the killed task goes on (the job's deadline still applies)."""
        if not self.cancel_on_kill or self._job is None:
            return
        job_id = self._job.job_id
        self.log.info("Task killed: cancelling batch inference job %s.", job_id)
        try:
            with self.make_hook(None) as hook:
                hook.cancel_job(job_id)
        except Exception:
            self.log.exception("Could not cancel batch inference job %s; it may still be running.", job_id)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage | None:
        """The input table, query tables or stage folder → the job's folder, with the job id and model.

        The model version is the resolved one when this task instance submitted the job, else the
        requested ``version_name`` (None for the default): a resumed task does not ask the registry again.
        """
        if self._job is None:
            return None
        with self.make_hook(None) as hook:
            return lineage.operator_lineage(
                namespace=hook.openlineage_namespace(),
                inputs=lineage.source_dataset_names(
                    hook,
                    input_table=self.input_table,
                    input_query=self.input_query,
                    input_stage_location=self.input_stage_location,
                    input_files=self.input_files,
                ),
                outputs=[
                    lineage.stage_dataset_name(
                        hook.parse_location(self._job.output_location, what="output_location")
                    )
                ],
                model=lineage.ModelUsed(
                    name=lineage.table_dataset_name(hook.qualify(self.model_name, what="model_name")),
                    version=self._job.model_version or self.version_name,
                    function=self.function_name,
                ),
                job_id=self._job.job_id,
                cost=self._cost,
            )

    @contextmanager
    def _session(self, context: Context) -> Iterator[SnowflakeBatchInferenceHook]:
        """One hook, one Snowflake session tagged with the task, for every step of one call."""
        self._hook = self.make_hook(context)
        try:
            yield self._hook
        finally:
            self._hook.close()
            self._hook = None

    def _session_hook(self) -> SnowflakeBatchInferenceHook:
        if self._hook is None:
            raise RuntimeError("ResumableJobMixin steps run only inside execute().")
        return self._hook

    def _resumed_job(
        self,
        hook: SnowflakeBatchInferenceHook,
        event: BatchJobEvent,
        job: dict[str, str] | None,
        reattached: bool,
    ) -> _Job:
        """The job a deferred try waited on, from the deferral's kwargs (or the event alone)."""
        if job is None:
            return replace(self._stored_job(hook, event.job_id), reattached=reattached)
        complete = isinstance(job, dict) and {"job_name", "output_location"} <= job.keys()
        if not complete or job.get("job_id") != event.job_id:
            raise BatchJobError(
                f"Task {self.task_id} resumed with an event for job {event.job_id} but deferred on {job!r}."
            )
        return _Job(
            job_id=event.job_id,
            job_name=job["job_name"],
            output_location=job["output_location"],
            url=job.get("url", ""),
            reattached=reattached,
        )

    def _stored_job(self, hook: SnowflakeBatchInferenceHook, job_id: Any) -> _Job:
        """A job known only by its id (stored by an earlier try, or named by a trigger event)."""
        name = ObjectName.parse(str(job_id), what="job_id").name.value
        location = hook.parse_location(self.output_stage_location, what="output_stage_location").child(name)
        return _Job(job_id=str(job_id), job_name=name, output_location=location.sql, reattached=True)

    def _spec_options(self) -> dict[str, Any]:
        resources = dict(self.job_resources or {})
        unknown = sorted(set(resources) - _RESOURCE_KEYS.keys())
        if unknown:
            raise ValueError(
                f"resources accepts only cpu, memory and gpu; got {', '.join(map(str, unknown))}."
            )
        return {
            "save_mode": self.save_mode,
            "replicas": as_int(self.replicas, what="replicas"),
            "num_workers": as_int(self.num_workers, what="num_workers"),
            "max_batch_rows": as_int(self.max_batch_rows, what="max_batch_rows"),
            **{_RESOURCE_KEYS[k]: str(v) for k, v in resources.items() if v is not None},
            "params": dict(self.model_params or {}),
            "column_handling": dict(self.column_handling or {}),
            "partition_column": self.partition_column or None,
            "engine": self.engine,
            "engine_args_override": tuple(self.engine_args_override),
            "image_repo": self.image_repo or None,
            "force_rebuild": self.force_rebuild,
        }

    def _job_name(self, context: Context) -> str:
        if self.job_name:
            return self.job_name
        ti = context["ti"]
        map_index = ti.map_index if ti.map_index is not None else -1
        return default_job_name(ti.dag_id, ti.task_id, ti.run_id, map_index).value
