"""SnowflakeBatchInferenceHook: the only code that talks to Snowflake or the local workspace."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, TypeVar, cast

import tenacity
from airflow.providers.snowflake.hooks.snowflake import SnowflakeHook

from airflow_snowflake_batch.backends.base import (
    BatchJobSpec,
    Column,
    FileInput,
    InputSource,
    LoadResultsRequest,
    WarehouseInferenceRequest,
)
from airflow_snowflake_batch.backends.retry import is_session_expired, retry_policy
from airflow_snowflake_batch.exceptions import (
    BatchJobError,
    InputValidationError,
    ResultsNotReadyError,
    StageValidationError,
)
from airflow_snowflake_batch.get_provider_info import LOCAL_CONNECTION_FIELDS, LOCAL_HIDDEN_FIELDS
from airflow_snowflake_batch.hooks import retention, validation
from airflow_snowflake_batch.identifiers import (
    DEFAULT_JOB_PREFIX,
    Identifier,
    ObjectName,
    StageLocation,
    parse_job_name,
)
from airflow_snowflake_batch.job_status import BatchJobStatus, JobState
from airflow_snowflake_batch.utils.connection import DEFAULT_CONN_ID
from airflow_snowflake_batch.utils.threads import in_thread

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from airflow.models import Connection

    from airflow_snowflake_batch.backends.base import (
        Column,
        InferenceBackend,
        ModelFunction,
        ModelVersionRef,
        PartitionValue,
        SaveMode,
        TableMode,
    )

LOCAL_CONN_TYPE = "snowflake_batch_local"
SUCCESS_FILE = "_SUCCESS"
# A job name prefix, compared with stored names: the characters of an unquoted identifier.
_JOB_PREFIX = re.compile(r"[A-Za-z0-9_$]+")
# The column a mapped task's map index goes to when its write replaces rows (see ``replace_key``).
MAP_INDEX_COLUMN = "AIRFLOW_MAP_INDEX"

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class JobStart:
    """What :meth:`SnowflakeBatchInferenceHook.start_batch_job` did."""

    job_id: str
    job_name: str
    output_location: StageLocation
    state: JobState
    reattached: bool


class SnowflakeBatchInferenceHook(SnowflakeHook):
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

    conn_name_attr = "snowflake_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    # The Snowflake provider owns the ``snowflake`` type; this hook registers the local workspace type.
    conn_type = LOCAL_CONN_TYPE
    hook_name = "Snowflake Batch Inference (local workspace)"

    def __init__(
        self,
        snowflake_conn_id: str = default_conn_name,
        *,
        database: str | None = None,
        schema: str | None = None,
        warehouse: str | None = None,
        role: str | None = None,
        query_tag: dict[str, str] | None = None,
        connection: Connection | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            snowflake_conn_id=snowflake_conn_id,
            database=database,
            schema=schema,
            warehouse=warehouse,
            role=role,
            **kwargs,
        )
        self.snowflake_conn_id = snowflake_conn_id
        self.query_tag = dict(query_tag or {})
        self._connection = connection
        if connection is not None:
            # get_connection is a classmethod; SnowflakeHook calls it on the instance.
            self.get_connection = self._given_connection  # type: ignore[method-assign]
        self._backend: InferenceBackend | None = None

    def _given_connection(self, conn_id: str) -> Connection:
        """``get_connection`` of a hook given its connection: that one (when the id matches), else Airflow's.

        The trigger reads the connection on the triggerer's event loop and hands it over, so that the
        blocking calls it runs in worker threads make no Airflow SDK call there: on Airflow 3.1 and 3.2.1
        such a call from a plain thread crashes the triggerer (apache/airflow#64620).
        """
        if self._connection is not None and conn_id == self._connection.conn_id:
            return self._connection
        return type(self).get_connection(conn_id)

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

    # -- backend and session -------------------------------------------------------------------

    @property
    def backend(self) -> InferenceBackend:
        """The Snowflake or local backend this connection points at, created on first use."""
        if self._backend is None:
            conn = self.get_connection(self.snowflake_conn_id)
            self._backend = self._make_backend(conn)
        return self._backend

    def _make_backend(self, conn: Connection) -> InferenceBackend:
        if conn.conn_type == LOCAL_CONN_TYPE:
            from airflow_snowflake_batch.backends.local.backend import LocalBackend

            return LocalBackend.from_connection(conn, database=self.database, schema=self.schema)
        from airflow_snowflake_batch.backends.snowflake import SnowflakeBackend

        params = self._get_conn_params()
        return SnowflakeBackend(
            self.get_snowpark_session,
            default_database=_optional_identifier(params.get("database"), "database"),
            default_schema=_optional_identifier(params.get("schema"), "schema"),
            account_url=f"{self.account_identifier}.snowflakecomputing.com",
        )

    def test_connection(self) -> tuple[bool, str]:  # type: ignore[override]  # DbApiHook's is untyped
        """Check the connection (the UI's *Test* button): a query on Snowflake, the folder locally."""
        if self.get_connection(self.snowflake_conn_id).conn_type != LOCAL_CONN_TYPE:
            # DbApiHook.test_connection returns (status, message) but is annotated as returning None.
            return cast("tuple[bool, str]", super().test_connection())
        try:
            backend = self.backend
        except Exception as exc:
            return False, str(exc)
        names = ".".join(str(n) for n in (backend.default_database, backend.default_schema) if n)
        return True, f"Local workspace is ready (default namespace: {names or 'none'})."

    def openlineage_namespace(self) -> str:
        """The OpenLineage namespace of this connection's datasets, without opening a session.

        ``snowflake://<account>`` with the account normalized as the Snowflake provider does (so datasets
        match those its operators emit); ``snowflake://local`` for a local workspace.
        """
        if self.get_connection(self.snowflake_conn_id).conn_type == LOCAL_CONN_TYPE:
            from airflow_snowflake_batch.utils.lineage import LOCAL_NAMESPACE

            return LOCAL_NAMESPACE
        # SnowflakeHook._get_openlineage_authority does the same through a snowflake-sqlalchemy URL;
        # building that URL needs a snowflake-sqlalchemy that works with the installed SQLAlchemy.
        from airflow.providers.snowflake.utils.openlineage import fix_account_name

        params = self._get_conn_params()
        account, region = str(params.get("account") or ""), params.get("region")
        host = f"{account}.{region}" if region and region not in account else account
        return f"snowflake://{fix_account_name(host)}"

    def get_snowpark_session(self) -> Any:
        """A new Snowpark session with the provider's ``QUERY_TAG`` (dag, task, run) added."""
        session = super().get_snowpark_session()
        if self.query_tag:
            session.update_query_tag(self.query_tag)
        return session

    def close(self) -> None:
        """Release the backend's session or connection. Safe to call twice."""
        if self._backend is not None:
            try:
                self._backend.close()
            finally:
                self._backend = None

    def __enter__(self) -> SnowflakeBatchInferenceHook:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _idempotent(self, call: Callable[[InferenceBackend], T]) -> T:
        """Run a backend call that is safe to repeat, retrying transient errors with backoff.

        After an expired session the backend is closed, so the next attempt reconnects. Calls that
        must not be repeated blindly (submitting a job, writing rows) go to :attr:`backend` directly:
        their retry is the task's retry, which re-attaches instead of writing twice.
        """
        for attempt in tenacity.Retrying(**retry_policy(before_sleep=self._before_retry)):
            with attempt:
                return call(self.backend)
        raise AssertionError("unreachable")  # pragma: no cover

    def _before_retry(self, retry_state: tenacity.RetryCallState) -> None:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        log.warning(
            "Transient error from Snowflake (attempt %s), retrying: %s", retry_state.attempt_number, exc
        )
        if exc is not None and is_session_expired(exc):
            self.close()

    # -- names ---------------------------------------------------------------------------------

    def qualify(self, name: str | ObjectName, *, what: str) -> ObjectName:
        """Parse a user-given name and fill database/schema from the overrides or the connection."""
        parsed = name if isinstance(name, ObjectName) else ObjectName.parse(name, what=what)
        return parsed.qualify(self.backend.default_database, self.backend.default_schema)

    def parse_location(self, location: str | StageLocation, *, what: str) -> StageLocation:
        parsed = location if isinstance(location, StageLocation) else StageLocation.parse(location, what=what)
        return parsed.qualify(self.backend.default_database, self.backend.default_schema)

    def input_source(
        self,
        *,
        input_table: str | None = None,
        input_query: str | None = None,
        input_stage_location: str | None = None,
        input_files: str | None = None,
        file_pattern: str | None = None,
        file_column: str | None = None,
    ) -> InputSource:
        """Exactly one input, parsed and qualified.

        ``input_files`` is a stage folder scored file by file; ``file_pattern`` (a regular expression
        matched against each file's path below the folder) and ``file_column`` apply to it only.
        """
        given = [
            n
            for n, v in (
                ("input_table", input_table),
                ("input_query", input_query),
                ("input_stage_location", input_stage_location),
                ("input_files", input_files),
            )
            if v
        ]
        if len(given) != 1:
            raise InputValidationError(
                "Exactly one of input_table, input_query, input_stage_location or input_files must be set; "
                f"got {', '.join(given) or 'none'}."
            )
        if (file_pattern or file_column) and not input_files:
            raise InputValidationError("file_pattern and file_column apply only to input_files.")
        if input_table:
            return InputSource(table=self.qualify(input_table, what="input_table"))
        if input_stage_location:
            return InputSource(
                stage_location=self.parse_location(input_stage_location, what="input_stage_location")
            )
        if input_files:
            return InputSource(
                files=FileInput(
                    location=self.parse_location(input_files, what="input_files"),
                    pattern=validation.file_pattern(file_pattern),
                    column=file_column or "",
                )
            )
        return InputSource(query=validation.check_input_query(str(input_query)))

    def list_input_files(self, files: FileInput) -> FileInput:
        """The folder's matching files, as full stage paths (``LIST`` on Snowflake, the folder locally)."""
        names = self._idempotent(lambda b: b.list_files(files.location))
        matching = [n for n in names if files.pattern is None or re.fullmatch(files.pattern, n)]
        if not matching:
            raise InputValidationError(
                f"input_files {files.location.sql} holds no file"
                + (f" matching file_pattern {files.pattern!r}" if files.pattern else "")
                + f" ({len(names)} file(s) in total); nothing was submitted."
            )
        paths = []
        for name in matching:
            path = f"{files.location.sql}{name}"
            try:
                StageLocation.parse(path, what="input file")
            except ValueError as exc:
                raise InputValidationError(
                    f"Input file {path!r} has a name batch jobs cannot take: {exc} Rename it, or exclude it "
                    "with file_pattern."
                ) from exc
            paths.append(path)
        return replace(files, paths=tuple(paths))

    # -- registry ------------------------------------------------------------------------------

    def get_model_version(self, model_name: str, version_name: str | None = None) -> ModelVersionRef:
        """Resolve a model (name resolved against the defaults) and a version, alias or the default."""
        model = self.qualify(model_name, what="model_name")
        if version_name is not None:
            Identifier.parse(version_name, what="version_name")
        return self._idempotent(lambda b: b.get_model_version(model, version_name))

    def resolve_function(self, model: ModelVersionRef, function_name: str | None) -> ModelFunction:
        return validation.resolve_function(model, function_name)

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
    ) -> dict[str, dict[str, str]]:
        """Check the input's columns and ``column_handling`` against the function before anything runs;
        return the handling normalized.

        Columns must feed the inputs by snowflake-ml's naming rule, no output or partition column may
        replace an input column, and no column feeding a feature that cannot hold NULL may hold one
        (counted by one query). Parquet files of a stage location are read by the job itself, so only
        the handling's values are checked for them.

        :param batch: The input goes to a batch job, which parses JSON text for structured features.
        """
        if source.stage_location is not None:
            self._require_parquet(source.stage_location)
            return validation.check_column_handling(
                function, None, column_handling or {}, where=source.description
            )
        if source.files is not None:
            columns = [Column(name=source.files.column, sql_type="VARCHAR")]
        else:
            columns = self._idempotent(lambda b: b.describe_input(source))
        where = source.description
        handling = validation.check_column_handling(function, columns, column_handling or {}, where=where)
        matched = validation.match_input_columns(
            function,
            columns,
            strict=strict,
            where=where,
            converted={c: validation.ENCODED_TYPES[h["convert_to"]] for c, h in handling.items()},
            json_text=batch,
        )
        validation.check_output_columns(function, columns, partition or {}, where=where)
        checked = sorted(
            {c.name for f in function.inputs if validation.cannot_hold_null(f) for c in [matched[f.name]]}
        )
        if checked and source.files is None:  # a folder's rows are its file paths, never NULL
            counts = self._idempotent(lambda b: b.count_nulls(source, checked))
            validation.check_nulls(function, matched, counts, where=where)
        return handling

    def _require_parquet(self, location: StageLocation) -> None:
        """``input_stage_location`` is read as Parquet: a folder of images or audio needs ``input_files``."""
        names = self._idempotent(lambda b: b.list_files(location))
        if not any(n.lower().endswith(".parquet") for n in names):
            found = f"it holds {len(names)} other file(s), e.g. {names[:3]}" if names else "it is empty"
            raise InputValidationError(
                f"input_stage_location {location.sql} holds no Parquet files ({found}). Batch jobs read "
                "input_stage_location as Parquet; to score a folder of files (images, audio...) one by one, "
                f"use input_files={location.sql!r} instead."
            )

    def validate_output_location(
        self,
        base: StageLocation,
        job_folder: StageLocation,
        *,
        source: InputSource,
        save_mode: SaveMode,
        file_inputs: bool,
        require_sse_for_files: bool = True,
    ) -> None:
        """The output stage exists and is internal, its encryption suits the inputs, the folder fits the mode."""
        stage = self._idempotent(lambda b: b.describe_stage(base.stage))
        if stage is None:
            raise StageValidationError(
                f"Output stage {base.stage.sql} does not exist. Create it with "
                f"CREATE STAGE {base.stage.sql} ENCRYPTION = (TYPE = 'SNOWFLAKE_SSE')."
            )
        if not stage.is_internal:
            raise StageValidationError(
                f"Output stage {base.stage.sql} is external; batch inference writes only to internal stages."
            )
        if stage.encryption != "SNOWFLAKE_SSE":
            message = (
                f"Output stage {base.stage.sql} uses {stage.encryption or 'unknown'} encryption; "
                "jobs over files (images, audio, video) support only SNOWFLAKE_SSE."
            )
            if file_inputs and require_sse_for_files:
                raise StageValidationError(
                    message + " Recreate it with ENCRYPTION = (TYPE = 'SNOWFLAKE_SSE')."
                )
            log.warning(message)
        inputs = source.stage_location or (source.files.location if source.files else None)
        if inputs is not None and base.contains(inputs):
            raise StageValidationError(
                f"Input location {inputs.sql} lies inside the output location {base.sql}; "
                "choose an output location outside the input files."
            )
        if source.stage_location is not None and source.stage_location.contains(job_folder):
            # A later run would read this run's results as input files.
            raise StageValidationError(
                f"Output folder {job_folder.sql} lies inside the input location {source.stage_location.sql}; "
                "choose an output location outside the input files."
            )
        if save_mode == "error" and (files := self._idempotent(lambda b: b.list_files(job_folder))):
            raise StageValidationError(
                f"Output folder {job_folder.sql} already holds {len(files)} file(s) (e.g. {files[0]!r}) and "
                "save_mode is 'error'. Use save_mode='overwrite' or another job_name."
            )

    # -- warehouse inference -------------------------------------------------------------------

    def run_warehouse_inference(
        self,
        *,
        model_name: str,
        version_name: str | None,
        function_name: str | None,
        source: InputSource,
        output_table: str,
        output_mode: TableMode = "overwrite",
        output_partition: dict[str, PartitionValue] | None = None,
        params: dict[str, Any] | None = None,
        partition_column: str | None = None,
        strict_input_validation: bool = False,
        map_index: int | None = None,
    ) -> tuple[ObjectName, int, ModelVersionRef]:
        """Validate, then score ``source`` into ``output_table`` server-side; return (table, rows, version).

        What the write replaces is in README "What each write does"; ``map_index`` (of a mapped task)
        joins the replace key as :data:`MAP_INDEX_COLUMN`, so mapped shards never delete each other's rows.
        """
        if source.stage_location is not None or source.files is not None:
            raise InputValidationError("Warehouse inference reads a table or a query, not stage files.")
        table = self.qualify(output_table, what="output_table")
        partition = replace_key(_parse_partition(output_partition), output_mode, map_index)
        validation.check_param_values(params or {})
        model = self.get_model_version(model_name, version_name)
        function = self.resolve_function(model, function_name)
        validation.check_params(function, params or {})
        self.validate_input(source, function, strict=strict_input_validation, partition=partition)
        request = WarehouseInferenceRequest(
            model=model,
            function=function,
            source=source,
            output_table=table,
            mode=output_mode,
            partition=partition,
            params=dict(params or {}),
            partition_column=_column(partition_column),
            strict_input_validation=strict_input_validation,
        )
        rows = self.backend.run_warehouse_inference(request)
        return table, rows, model

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
        _check_spec_values(source, output_location, params, options)
        model = self.get_model_version(model_name, version_name)
        function = self.resolve_function(model, function_name)
        validation.check_params(function, params)
        # Snowflake puts an unqualified job in the model's database and schema.
        name = name.qualify(model.model.database, model.model.schema)
        handling = dict(options.pop("column_handling", None) or {})
        if source.files is not None:
            source, handling = _file_source(function, source.files, handling)
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
        self, spec: BatchJobSpec, *, try_number: int = 1, strict_input_validation: bool = False
    ) -> JobStart:
        """Re-attach to this task's job if one is running or done; otherwise validate and submit.

        The job of try ``n`` is named ``<job_name>`` (n = 1) or ``<job_name>_T<n>``. The newest job of
        earlier tries decides: active → re-attach; DONE with ``_SUCCESS`` → nothing to do; failed,
        cancelled, being cancelled (``CANCELLING``: a cleared or marked try's kill is stopping it),
        lost or DONE without ``_SUCCESS`` → a new job under this try's name. Before submitting, the
        names of earlier tries that hold no job are dropped, which removes what a submission killed
        half-way left behind.
        """
        names = _job_names(spec.job_name, try_number)
        states: dict[ObjectName, JobState | None] = {}  # this try's own name is looked up first
        for candidate in reversed(names):
            state = states[candidate] = self.find_job(candidate.sql)
            if state is None:
                continue
            found = replace(spec, job_name=candidate)
            if state.status.is_active and state.status is not BatchJobStatus.CANCELLING:
                log.info(
                    "Re-attaching to job %s (%s) instead of submitting a new one.",
                    state.job_id,
                    state.status.value,
                )
                return self._job_start(found, state, reattached=True)
            if state.status.is_success and self.has_success_marker(found.job_output_location):
                log.info("Job %s already finished with _SUCCESS; not submitting again.", state.job_id)
                return self._job_start(found, state, reattached=True)
            log.warning(
                "Job %s of an earlier try %s%s; submitting a new job.",
                state.job_id,
                "is being cancelled" if state.status.is_active else f"ended {state.status.value}",
                " without _SUCCESS" if state.status.is_success else "",
            )
            break

        target = replace(spec, job_name=names[-1])
        # Inputs are checked before anything is dropped, removed or submitted.
        if target.source.files is not None:
            target = replace(target, source=InputSource(files=self.list_input_files(target.source.files)))
        handling = self.validate_input(
            target.source,
            target.function,
            strict=strict_input_validation,
            column_handling=target.column_handling,
            batch=True,
        )
        target = replace(target, column_handling=handling)
        for name, state in states.items():
            if state is None and name != target.job_name:
                self.drop_job(name.sql)
        if (stale := states[target.job_name]) is not None:
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
        job_id = self.backend.submit_job(target)
        log.info("Submitted batch inference job %s; results go to %s", job_id, target.job_output_location.sql)
        return self._job_start(target, self.get_job_state(job_id), reattached=False)

    @staticmethod
    def _job_start(spec: BatchJobSpec, state: JobState, *, reattached: bool) -> JobStart:
        return JobStart(
            job_id=state.job_id,
            job_name=spec.job_name.name.value,
            output_location=spec.job_output_location,
            state=state,
            reattached=reattached,
        )

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

    async def a_get_job_state(self, job_id: str) -> JobState:
        """Async version of :meth:`get_job_state`: runs in a thread so the event loop never blocks."""
        return await in_thread(self.get_job_state, job_id)

    def wait_for_job(self, job_id: str, *, poll_interval: float, deadline: float | None = None) -> JobState:
        """Poll until the job ends; at ``deadline`` (epoch seconds) cancel it and raise."""
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
            time.sleep(
                poll_interval if deadline is None else max(0.0, min(poll_interval, deadline - time.time()))
            )

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
        running job uses (rules: :mod:`airflow_snowflake_batch.hooks.retention`). Removes nothing.

        :param output_stage_location: The batch operator's ``output_stage_location``.
        :param older_than: Minimum age of what is removed.
        :param job_schema: ``SCHEMA`` or ``DATABASE.SCHEMA`` of the jobs; default: the connection's.
        :param job_name_prefix: Only jobs and job folders whose names start with it are candidates.
        :param now: The time ages are measured from (default: now).
        """
        if older_than < timedelta(0):
            raise InputValidationError(f"older_than must not be negative, got {older_than}.")
        if not _JOB_PREFIX.fullmatch(job_name_prefix):
            raise InputValidationError(
                "job_name_prefix must be the start of a job name (letters, digits, _ or $), "
                f"got {job_name_prefix!r}."
            )
        location = self.parse_location(output_stage_location, what="output_stage_location")
        database, schema = self._job_schema(job_schema)
        jobs = self._idempotent(lambda b: b.list_jobs(database, schema))
        files = self._idempotent(lambda b: b.list_file_details(location))
        return retention.plan_cleanup(
            jobs=jobs,
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

    def _job_schema(self, job_schema: str | None) -> tuple[Identifier, Identifier]:
        database, schema = self.backend.default_database, self.backend.default_schema
        if job_schema:
            # "DATABASE.SCHEMA" parses as an object name whose "schema" part is the database.
            parsed = ObjectName.parse(job_schema, what="job_schema")
            if parsed.database is not None:
                raise InputValidationError(
                    f"job_schema must be SCHEMA or DATABASE.SCHEMA, got {job_schema!r}."
                )
            database, schema = parsed.schema or database, parsed.name
        if database is None or schema is None:
            raise InputValidationError(
                "job_schema must name the jobs' DATABASE.SCHEMA: the connection sets no default "
                f"database and schema (got job_schema={job_schema!r})."
            )
        return database, schema

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
    ) -> tuple[ObjectName, int]:
        """Load a job folder's Parquet files into a table; return (table, rows loaded).

        With ``output_partition`` only the partition's rows are replaced, atomically, whatever the
        mode; with ``overwrite`` the table's rows are; with ``append`` each file is loaded once (load
        history), so loading the same job twice never duplicates rows. A folder with ``_SUCCESS``
        and no Parquet file (an empty input) loads 0 rows. ``map_index``: as in
        :meth:`run_warehouse_inference`.
        """
        if output_location is None or str(output_location).strip() in ("", "None"):
            # What a downstream task receives when the batch task was marked success by hand (or
            # skipped) before its job pushed an output_location.
            raise ResultsNotReadyError(
                f"output_location is {output_location!r}: the upstream batch inference task produced no "
                "results (it pushed no output_location, e.g. because it was marked success or skipped "
                "before its job finished). Clear and re-run the upstream task, or pass the job folder "
                "@DB.SCHEMA.STAGE/path/<JOB_NAME>/ explicitly."
            )
        location = self.parse_location(output_location, what="output_location")
        table = self.qualify(target_table, what="target_table")
        files = self.list_files(location)
        if require_success and SUCCESS_FILE not in files:
            raise ResultsNotReadyError(
                f"{location.sql} has no {SUCCESS_FILE} file: the job did not finish successfully, so nothing "
                "was loaded. Set require_success=False to load partial results."
            )
        if not create_table_if_missing and not self._idempotent(lambda b: b.table_exists(table)):
            raise InputValidationError(
                f"Target table {table.sql} does not exist and create_table_if_missing is False."
            )
        request = LoadResultsRequest(
            location=location,
            target_table=table,
            mode=mode,
            partition=replace_key(_parse_partition(output_partition), mode, map_index),
            create_table_if_missing=create_table_if_missing,
            parquet_files=tuple(f for f in files if f.endswith(".parquet")),
        )
        if not request.parquet_files:
            log.info("%s holds no Parquet file (an empty input): loading 0 rows.", location.sql)
        return table, self.backend.load_results(request)


def _check_spec_values(
    source: InputSource, output: StageLocation, params: dict[str, Any], options: dict[str, Any]
) -> None:
    """Every value of a job spec that is text in its YAML stays inside the SQL literal (see validation).

    ``image_repo`` is replaced by its parsed name in ``options``.
    """
    validation.check_param_values(params)
    validation.check_column_handling_is_safe(options.get("column_handling") or {})
    validation.check_resources(
        {k: options.get(k) for k in ("cpu_requests", "memory_requests", "gpu_requests")}
    )
    validation.check_literal_text(output.sql, "output_stage_location")
    if source.stage_location is not None:
        validation.check_literal_text(source.stage_location.sql, "input_stage_location")
    if options.get("partition_column"):
        validation.check_literal_text(options["partition_column"], "partition_column")
    if options.get("engine") is not None:
        validation.check_literal_text(options["engine"], "engine")
    for index, argument in enumerate(options.get("engine_args_override") or ()):
        validation.check_literal_text(argument, f"engine_args_override[{index}]")
    if options.get("image_repo"):
        repo = ObjectName.parse(options["image_repo"], what="image_repo")
        options["image_repo"] = validation.check_literal_text(repo.sql, "image_repo")


def _file_source(
    function: ModelFunction, files: FileInput, handling: dict[str, Any]
) -> tuple[InputSource, dict[str, Any]]:
    """The source of a folder of files, its paths in the column of the model's file feature, and the
    handling that turns each path into what the feature takes (BYTES: raw bytes, STRING: base64),
    unless ``column_handling`` already says how."""
    feature = validation.file_column(
        function, files.column or None, where=f"input files {files.location.sql}"
    )
    if not any(str(key).upper() == feature.name.upper() for key in handling):
        encoding = "raw_bytes" if feature.dtype == "BYTES" else "base64"
        handling[feature.name] = {"input_format": "full_stage_path", "convert_to": encoding}
    return InputSource(files=replace(files, column=feature.name)), handling


def _job_names(base: ObjectName, try_number: int) -> list[ObjectName]:
    """The job name of each try up to ``try_number``: NAME, NAME_T2, NAME_T3..."""
    names = [base]
    for n in range(2, max(try_number, 1) + 1):
        names.append(replace(base, name=Identifier(f"{base.name.value}_T{n}")))
    return names


def _optional_identifier(value: str | None, what: str) -> Identifier | None:
    return Identifier.parse(value, what=what) if value and value.strip() else None


def _column(name: str | None) -> str | None:
    return None if not name else Identifier.parse(name, what="column name").value


def replace_key(
    partition: dict[str, PartitionValue], mode: TableMode, map_index: int | None
) -> dict[str, PartitionValue]:
    """The partition a write replaces; a mapped task's map index joins it when rows are replaced.

    A mapped task (``map_index >= 0``) that replaces rows (an ``output_partition``, or ``overwrite``)
    writes its map index in :data:`MAP_INDEX_COLUMN` and replaces only the rows of its own index,
    so shards writing the same partition keep each other's rows. A mapped ``append`` without a
    partition replaces nothing and gets no extra column.

    >>> replace_key({"DS": "2024-01-01"}, "overwrite", 2)
    {'DS': '2024-01-01', 'AIRFLOW_MAP_INDEX': 2}
    >>> replace_key({}, "append", 2), replace_key({"DS": "x"}, "append", -1)
    ({}, {'DS': 'x'})
    """
    if map_index is None or map_index < 0 or (not partition and mode == "append"):
        return partition
    if MAP_INDEX_COLUMN in partition:
        raise InputValidationError(
            f"output_partition names {MAP_INDEX_COLUMN}, which a mapped task fills with its map index; "
            "use another column name."
        )
    return {**partition, MAP_INDEX_COLUMN: map_index}


def _parse_partition(partition: dict[str, PartitionValue] | None) -> dict[str, PartitionValue]:
    """Validate partition columns (names become stored identifiers) and their literal values."""
    result: dict[str, PartitionValue] = {}
    for column, value in (partition or {}).items():
        if not isinstance(value, (str, int, float, bool)):
            raise InputValidationError(
                f"output_partition value for {column!r} must be a string, number or boolean, "
                f"got {type(value).__name__}."
            )
        result[Identifier.parse(column, what="output_partition column").value] = value
    return result
