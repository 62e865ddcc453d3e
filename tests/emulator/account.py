"""An emulated Snowflake account: fakesnow's SQL engine plus the ML and SPCS statements it lacks.

:class:`EmulatedAccount` starts the server, owns a workspace folder (models, jobs) and routes each
statement to the module that knows it. See ``README.md`` for what is emulated and how it differs.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from airflow_snowflake_batch.backends.local.layout import Layout
from emulator.catalog import check_columns
from emulator.jobs import JobService
from emulator.models import ModelStore
from emulator.names import Name, quoted, sql
from emulator.rewrites import install as install_hash_agg
from emulator.rewrites import rewrite
from emulator.server import Answer, EmulatorServer, Query, Rewrite, SqlError, status_answer
from emulator.session import SessionState
from emulator.stages import StageFiles, patch_fakesnow_copy_files

log = logging.getLogger(__name__)

_CREATE_IF_NOT_EXISTS = re.compile(r"^\s*CREATE\s+TABLE\s+IF\s+NOT\s+EXISTS\s+(?P<table>[^\s(]+)", re.I)
_CREATE_TEMPORARY = re.compile(
    r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:(?:LOCAL|GLOBAL|SCOPED)\s+)?(?:TEMP|TEMPORARY)\s+TABLE\s+"
    r"(?:IF\s+NOT\s+EXISTS\s+)?(?P<table>[^\s(]+)",
    re.I,
)
_DROP_TABLE = re.compile(r"^\s*DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?P<table>[^\s;]+)", re.I)


class EmulatedAccount:
    """One emulated account: call :meth:`start` (or use :func:`emulated_account`), then connect."""

    def __init__(self, root: Path) -> None:
        self.layout = Layout.at(root)
        self.session_state = SessionState()
        self.models = ModelStore(self.layout)
        self.stages = StageFiles()
        self.jobs = JobService(self.layout, self.stages, self.models)
        self.statements: list[Query] = []  # everything the clients sent, in order
        self._denied: list[re.Pattern[str]] = []
        self._temporary: dict[Name, str] = {}  # qualified temporary table -> the session that made it
        self._server = EmulatorServer(self.handle, self.end_session)

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        import fakesnow.server

        self.models.install(fakesnow.server.shared_fs.duck_conn)
        install_hash_agg(fakesnow.server.shared_fs.duck_conn)
        patch_fakesnow_copy_files()
        self._server.start()

    def stop(self) -> None:
        self.jobs.stop_all()
        # Sessions left open would try to log out at interpreter exit, retrying a server long gone.
        from snowflake.snowpark.session import _active_sessions

        for session in list(_active_sessions):
            if (
                getattr(session.connection, "port", None) == self.port
                or session.connection.host == "127.0.0.1"
            ):
                session.close()
        self._server.stop()

    @property
    def connect_kwargs(self) -> dict[str, Any]:
        return self._server.connect_kwargs

    @property
    def port(self) -> int:
        return self._server.port

    # -- statements --------------------------------------------------------------------------------

    @contextmanager
    def deny(self, pattern: str) -> Iterator[None]:
        """Inside, statements matching ``pattern`` (a regular expression, case-insensitive) fail as they
        do for a role without the privilege: error 003001, SQLSTATE 42501, "SQL access control error:
        Insufficient privileges to operate on ..."
        (https://docs.snowflake.com/en/user-guide/security-access-control-considerations)."""
        denied = re.compile(pattern, re.I)
        self._denied.append(denied)
        try:
            yield
        finally:
            self._denied.remove(denied)

    def handle(self, query: Query) -> Answer | Rewrite | None:
        self.statements.append(query)
        if any(p.search(query.text) for p in self._denied):  # first: a refused statement creates nothing
            raise SqlError(
                3001, "SQL access control error:\nInsufficient privileges to operate on this object.", "42501"
            )
        self._temporary_tables(query)
        check_columns(query.text)
        outcome = (
            self.session_state.handle(query.text)
            or self._existing_table(query.text)
            or self.models.answer(query.text)
            or self.jobs.handle(query)
            or self.stages.handle(query.text)
        )
        if outcome is not None:
            return outcome
        rewritten = rewrite(self.models.rewrite_model_calls(query.text))
        return Rewrite(rewritten) if rewritten != query.text else None

    def _temporary_tables(self, query: Query) -> None:
        """A temporary table exists only in the session that created it and is dropped when that session
        ends (https://docs.snowflake.com/en/user-guide/tables-temp-transient): another session naming it
        gets error 002003 (does not exist). Qualified names only: they are made plain tables for DuckDB,
        whose own temporary tables are per connection."""
        text = query.text
        if (match := _CREATE_TEMPORARY.match(text)) and (name := _qualified(match["table"])) is not None:
            self._temporary[name] = query.session
            return
        for name, owner in list(self._temporary.items()):
            if owner != query.session and _mentions(text, name):
                raise SqlError(
                    2003, f"SQL compilation error:\nObject '{name.sql}' does not exist or not authorized."
                )
        if (match := _DROP_TABLE.match(text)) and (name := _qualified(match["table"])) is not None:
            self._temporary.pop(name, None)

    def end_session(self, session: str) -> None:
        """Drop the temporary tables of a session the client closed."""
        for name, owner in list(self._temporary.items()):
            if owner == session:
                self._temporary.pop(name, None)
                self.stages.run(f"DROP TABLE IF EXISTS {name.quoted}")

    def _existing_table(self, text: str) -> Answer | None:
        """``CREATE TABLE IF NOT EXISTS`` of a table that exists does nothing, as in Snowflake (fakesnow
        would forget the table's load history, as if a new table object were made)."""
        match = _CREATE_IF_NOT_EXISTS.match(text)
        if match is None:
            return None
        try:
            table = Name.parse(match["table"])
        except SqlError:
            return None
        if table.database is None or table.schema is None:
            return None  # resolved by fakesnow against the session's defaults
        import fakesnow.server

        with fakesnow.server.shared_fs.duck_conn.cursor() as duck:
            found = duck.execute(
                "SELECT 1 FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? AND table_name = ?",
                [table.database, table.schema, table.name],
            ).fetchall()
        if not found:
            return None
        return status_answer(f"{table.name} already exists, statement succeeded.")

    def sent(self, pattern: str) -> list[str]:
        """Statements matching a regular expression (case-insensitive)."""
        import re

        regex = re.compile(pattern, re.I | re.S)
        return [q.text for q in self.statements if regex.search(q.text)]

    # -- test set-up: the calls of LocalWorkspace, so set-up code (scripts/demo_data.py) runs on both -

    def log_model(
        self,
        model: Any,
        *,
        model_name: str,
        version_name: str = "V1",
        sample_input_data: Any = None,
        signatures: dict[str, Any] | None = None,
        target_methods: list[str] | None = None,
    ) -> None:
        """Register a model version (the first becomes the default), as ``Registry.log_model`` would.

        :param model_name: ``DB.SC.NAME``.
        """
        name = Name.parse(model_name)
        assert name.database is not None and name.schema is not None, "model names must be qualified"
        self.models.workspace.log_model(
            model,
            model_name=name.sql,
            version_name=version_name,
            signatures=signatures,
            sample_input_data=sample_input_data,
            target_methods=target_methods,
        )

    def write_table(self, name: str, dataframe: Any, mode: str = "overwrite") -> None:
        """Replace table ``DB.SC.NAME`` (database and schema made if missing) with a pandas frame's rows.

        Integer columns become ``NUMBER(38,0)``, as Snowflake stores them. The rows go through a
        Parquet file, so the frame needs no registering on fakesnow's connection.
        """
        import fakesnow.server
        import pandas as pd

        if mode != "overwrite":
            raise ValueError(f"The emulated account only overwrites tables, got mode={mode!r}.")
        table = Name.parse(name)
        assert table.database is not None and table.schema is not None, "table names must be qualified"
        self.stages.run(f"CREATE DATABASE IF NOT EXISTS {sql(table.database)}")
        self.stages.run(f"CREATE SCHEMA IF NOT EXISTS {sql(table.database)}.{sql(table.schema)}")
        path = self.layout.root / "uploads" / f"{uuid.uuid4().hex}.parquet"
        path.parent.mkdir(exist_ok=True)
        dataframe.to_parquet(path, index=False)
        columns = ", ".join(
            f"CAST({quoted(c)} AS DECIMAL(38, 0)) AS {quoted(c)}"
            if pd.api.types.is_integer_dtype(kind)
            else quoted(c)
            for c, kind in dataframe.dtypes.items()
        )
        try:
            with fakesnow.server.shared_fs.duck_conn.cursor() as duck:
                duck.execute(
                    f"CREATE OR REPLACE TABLE {table.quoted} AS SELECT {columns} FROM read_parquet(?)",
                    [str(path)],
                )
        finally:
            path.unlink()

    def read_table(self, name: str) -> Any:
        """Table ``DB.SC.NAME``'s rows as a pandas frame, or None when it does not exist."""
        import fakesnow.server

        table = Name.parse(name)
        assert table.database is not None and table.schema is not None, "table names must be qualified"
        with fakesnow.server.shared_fs.duck_conn.cursor() as duck:
            found = duck.execute(
                "SELECT 1 FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? AND table_name = ?",
                [table.database, table.schema, table.name],
            ).fetchall()
            return duck.execute(f"SELECT * FROM {table.quoted}").df() if found else None

    def create_stage(self, name: str, *, encryption: str = "SNOWFLAKE_SSE") -> None:
        """``CREATE STAGE IF NOT EXISTS DB.SC.NAME`` (database and schema made if missing)."""
        stage = Name.parse(name)
        assert stage.database is not None and stage.schema is not None, "stage names must be qualified"
        self.stages.run(f"CREATE DATABASE IF NOT EXISTS {sql(stage.database)}")
        self.stages.run(f"CREATE SCHEMA IF NOT EXISTS {sql(stage.database)}.{sql(stage.schema)}")
        self.stages.run(f"CREATE STAGE IF NOT EXISTS {stage.sql} ENCRYPTION = (TYPE = '{encryption}')")
        if encryption == "SNOWFLAKE_SSE":  # recorded as for a client's CREATE STAGE (SHOW STAGES reports it)
            self.stages.sse.add(stage.name)

    def stage_dir(self, location: str) -> Path:
        """The folder behind a stage location (``@DB.SC.STAGE/path``)."""
        return self.stages.folder(location)


@contextmanager
def emulated_account() -> Iterator[EmulatedAccount]:
    from fakesnow.transforms import stage

    root = Path(tempfile.mkdtemp(prefix="emulated-snowflake-"))
    # Stage folders live inside the account's workspace, as they do in a local workspace: job
    # processes refuse any path outside it (the local backend's path confinement).
    bucket = root / "stages"
    bucket.mkdir()
    stage.LOCAL_BUCKET_PATH = str(bucket)
    account = EmulatedAccount(root)
    account.start()
    try:
        yield account
    finally:
        account.stop()
        shutil.rmtree(root, ignore_errors=True)


def _qualified(text: str) -> Name | None:
    try:
        name = Name.parse(text)
    except SqlError:
        return None
    return name if name.database is not None and name.schema is not None else None


def _mentions(text: str, name: Name) -> bool:
    """Whether ``text`` names the table ``DB.SC.T`` (each part bare or quoted; case ignored, which errs
    toward refusing)."""
    parts = [rf'(?:{re.escape(p)}|"{re.escape(p)}")' for p in (name.database, name.schema, name.name) if p]
    dotted = r"\s*\.\s*".join(parts)
    return re.search(rf'(?<![\w$."]){dotted}(?![\w$])', text, re.I) is not None
