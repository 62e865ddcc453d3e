"""The connection, backend, session and retries under :class:`~airflow_snowflake_batch.hooks.batch_inference.SnowflakeBatchInferenceHook`.

As the Databricks provider splits ``databricks_base`` (auth, sessions, retries) from ``databricks`` (the
API calls): this base turns an Airflow connection into a backend (Snowflake or a local workspace), owns
its session, retries calls that are safe to repeat, qualifies names with the connection's defaults, and
parses the one input of a task (table, query, Parquet location or folder of files).
The calls themselves are the subclass's.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar, cast

import tenacity
from airflow.providers.snowflake.hooks.snowflake import SnowflakeHook

from airflow_snowflake_batch.backends.base import FileInput, InputSource
from airflow_snowflake_batch.backends.retry import is_session_expired, retry_policy
from airflow_snowflake_batch.constants import DEFAULT_CONN_ID, LOCAL_CONN_TYPE, LOCAL_NAMESPACE
from airflow_snowflake_batch.exceptions import InputValidationError
from airflow_snowflake_batch.identifiers import Identifier, ObjectName, StageLocation
from airflow_snowflake_batch.inference import inputs

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow.models import Connection

    from airflow_snowflake_batch.backends.base import InferenceBackend

log = logging.getLogger(__name__)

T = TypeVar("T")
H = TypeVar("H", bound="SnowflakeBatchInferenceBaseHook")


class SnowflakeBatchInferenceBaseHook(SnowflakeHook):
    """A Snowflake hook whose calls go to a backend: Snowflake, or a local workspace.

    Its arguments are documented on :class:`~airflow_snowflake_batch.hooks.batch_inference.SnowflakeBatchInferenceHook`.
    """

    conn_name_attr = "snowflake_conn_id"
    default_conn_name = DEFAULT_CONN_ID

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
            # get_connection is a classmethod; SnowflakeHook calls it on the instance. setattr, because
            # mypy would take an assignment for an instance-only attribute and refuse class-level calls.
            setattr(self, "get_connection", self._given_connection)  # noqa: B010
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
            return LOCAL_NAMESPACE
        # SnowflakeHook._get_openlineage_authority does the same through a snowflake-sqlalchemy URL;
        # building that URL needs a snowflake-sqlalchemy that works with the installed SQLAlchemy.
        from airflow.providers.snowflake.utils.openlineage import fix_account_name

        params = self._get_conn_params()
        account, region = str(params.get("account") or ""), params.get("region")
        host = f"{account}.{region}" if region and region not in account else account
        return f"snowflake://{fix_account_name(host)}"

    def get_snowpark_session(self) -> Any:
        """A new Snowpark session tagged, in one update, as ``SnowflakeHook.get_snowpark_session`` tags
        it (Airflow and provider versions) plus this hook's ``QUERY_TAG`` (dag, task, run).

        ``update_query_tag`` reads the session's tag (one a user, account or the connection's
        ``session_parameters`` set is kept) and sets the merged one: two statements per session,
        where calling the base method and then adding ours sent four.
        """
        from airflow import __version__ as airflow_version
        from airflow.providers.snowflake import __version__ as provider_version

        session = self._connect()
        session.update_query_tag(
            {
                "airflow_version": airflow_version,
                "airflow_provider_version": provider_version,
                **self.query_tag,
            }
        )
        return session

    def _connect(self) -> Any:
        """A new, untagged Snowpark session of the connection (what ``SnowflakeHook`` builds)."""
        from snowflake.snowpark import Session

        return Session.builder.configs(self._get_conn_params()).create()

    def close(self) -> None:
        """Release the backend's session or connection. Safe to call twice."""
        if self._backend is not None:
            try:
                self._backend.close()
            finally:
                self._backend = None

    def __enter__(self: H) -> H:
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

    # -- inputs --------------------------------------------------------------------------------

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
        inputs.one_input(
            input_table=input_table,
            input_query=input_query,
            input_stage_location=input_stage_location,
            input_files=input_files,
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
                    pattern=inputs.file_pattern(file_pattern),
                    column=file_column or "",
                )
            )
        return InputSource(query=inputs.check_input_query(str(input_query)))

    def list_input_files(self, files: FileInput) -> FileInput:
        """The folder's matching files, as full stage paths (``LIST`` on Snowflake, the folder locally)."""
        names = self._idempotent(lambda b: b.list_files(files.location))
        return replace(files, paths=inputs.matching_files(files.location, names, files.pattern))


def _optional_identifier(value: str | None, what: str) -> Identifier | None:
    return Identifier.parse(value, what=what) if value and value.strip() else None
