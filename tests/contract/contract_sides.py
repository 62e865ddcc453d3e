"""The two sides of the contract suite: the same hook over the local backend and the Snowflake backend.

Every contract test takes the ``side`` fixture (``conftest.py``), parametrized ``local`` and
``snowflake``, and only talks to a :class:`Side`: tables in and out, stage files, the model, the hook, jobs. No test branches
on the backend.

``local``: a real :class:`~airflow_snowflake_batch.local.LocalWorkspace` (DuckDB files, stage folders,
the local registry, detached job processes).

``snowflake``: the real hook, :class:`SnowflakeBackend`, Snowpark ``Session``, snowflake-ml
``Registry``, ``ModelVersion.run``/``run_batch`` and ``snowflake.ml.jobs``, with no double of them,
over the emulated account (``tests/emulator``: fakesnow's SQL engine, models scored by the local
registry, jobs run as local job processes), each test in a fresh schema. The test reads and writes
the account's tables directly on its DuckDB engine, and its stages as folders.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from contract_models import Scorer, signature

from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook
from airflow_snowflake_batch.identifiers import Identifier, ObjectName
from airflow_snowflake_batch.job_status import JobState

MODEL = "SCORER"
STAGE = "OUT"
CONN_ID = "contract"
MARKER = "contract marker"


class Side:
    """What a contract test may do on a backend. Names are unqualified: the connection's defaults apply."""

    name: str
    conn_id: str
    _monkeypatch: pytest.MonkeyPatch

    def write_table(self, name: str, frame: pd.DataFrame) -> None:
        raise NotImplementedError

    def read_table(self, name: str) -> pd.DataFrame | None:
        """The table's rows (columns as stored), or None when it does not exist."""
        raise NotImplementedError

    def mark_table(self, name: str) -> None:
        """Comment the table, so a test can tell the same table object from a recreated one."""
        raise NotImplementedError

    def is_marked(self, name: str) -> bool:
        raise NotImplementedError

    def stage_dir(self, location: str) -> Path:
        """The folder holding a stage location's files (``@OUT/path/``)."""
        raise NotImplementedError

    def log_model(self, name: str, model: Any, signature: Any) -> None:
        """Register ``model`` as ``name`` (its ``predict`` with ``signature``), for a test's own model."""
        raise NotImplementedError

    def log_default_version(self, version: str, model: Any, signature: Any) -> None:
        """Log ``model`` as version ``version`` of MODEL and make it the default (a retrained model)."""
        raise NotImplementedError

    def hook(self) -> SnowflakeBatchInferenceHook:
        return SnowflakeBatchInferenceHook(self.conn_id)

    def wait(self, hook: SnowflakeBatchInferenceHook, job_id: str, timeout: float = 120.0) -> JobState:
        deadline = time.monotonic() + timeout
        while not (state := hook.get_job_state(job_id)).status.is_terminal:
            assert time.monotonic() < deadline, f"job {job_id} still {state.status.value} after {timeout}s"
            # Not faster: on the snowflake side each poll is a statement to the emulated account,
            # whose server shares the test's process (and the CPU) with the job processes.
            time.sleep(0.5)
        return state

    @contextlib.contextmanager
    def held_jobs(self) -> Iterator[None]:
        """Jobs submitted inside stay RUNNING for ten minutes (so a test can re-attach to or cancel
        them): on both sides they are local job processes, which wait once RUNNING when told to."""
        from airflow_snowflake_batch.backends.local.job_runner import DELAY_ENV

        with self._monkeypatch.context() as patch:
            patch.setenv(DELAY_ENV, "600")
            yield


# -- local ----------------------------------------------------------------------------------------


class LocalSide(Side):
    name = "local"
    conn_id = CONN_ID

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch, template: Path) -> None:
        from airflow_snowflake_batch.local import LocalWorkspace

        shutil.copytree(template, root)  # the stage and the logged model (see :meth:`template`)
        self.workspace = LocalWorkspace(root)
        self._monkeypatch = monkeypatch
        monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", self.workspace.connection_uri())

    @staticmethod
    def template(root: Path) -> Path:
        """A workspace with stage OUT and model SCORER, built once per session and copied per test."""
        from airflow_snowflake_batch.local import LocalWorkspace

        workspace = LocalWorkspace(root)
        workspace.create_stage(STAGE)
        workspace.log_model(
            Scorer(), model_name=MODEL, version_name="V1", signatures={"predict": signature()}
        )
        return root

    def write_table(self, name: str, frame: pd.DataFrame) -> None:
        self.workspace.write_table(name, frame)

    def read_table(self, name: str) -> pd.DataFrame | None:
        return self.workspace.read_table(name) if self.workspace.table_exists(name) else None

    def mark_table(self, name: str) -> None:
        self.workspace.sql(f"COMMENT ON TABLE {self.workspace.name(name).quoted} IS '{MARKER}'")

    def is_marked(self, name: str) -> bool:
        table = self.workspace.name(name)
        frame = self.workspace.sql(
            "SELECT comment FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? AND table_name = ?",
            [table.database.value, table.schema.value, table.name.value],
        )
        return list(frame["comment"]) == [MARKER]

    def stage_dir(self, location: str) -> Path:
        return self.workspace.path_of(location)

    def log_model(self, name: str, model: Any, signature: Any) -> None:
        self.workspace.log_model(model, model_name=name, version_name="V1", signatures={"predict": signature})

    def log_default_version(self, version: str, model: Any, signature: Any) -> None:
        self.workspace.log_model(
            model, model_name=MODEL, version_name=version, signatures={"predict": signature}
        )
        self.workspace.set_default_version(MODEL, version)


# -- snowflake --------------------------------------------------------------------------------------------


class SnowflakeSide(Side):
    """The real hook, Snowflake backend, Snowpark, Registry and snowflake.ml.jobs over the emulated
    account (``tests/emulator``), in a fresh schema with stage ``OUT`` and model ``SCORER``."""

    name = "snowflake"

    def __init__(
        self, account: Any, schema: tuple[str, str], conn_id: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        self.account = account
        self.database, self.schema = schema
        self.conn_id = conn_id
        self._monkeypatch = monkeypatch
        self.log_model(MODEL, Scorer(), signature())

    def log_model(self, name: str, model: Any, signature: Any) -> None:
        self.account.log_model(
            model, model_name=f"{self.database}.{self.schema}.{name}", signatures={"predict": signature}
        )

    def log_default_version(self, version: str, model: Any, signature: Any) -> None:
        name = f"{self.database}.{self.schema}.{MODEL}"
        self.account.log_model(
            model, model_name=name, version_name=version, signatures={"predict": signature}
        )
        self.account.models.workspace.set_default_version(name, version)

    def _table(self, name: str) -> str:
        return ObjectName(
            name=Identifier.parse(name), schema=Identifier(self.schema), database=Identifier(self.database)
        ).sql

    def _duck(self) -> Any:
        import fakesnow.server

        return fakesnow.server.shared_fs.duck_conn.cursor()

    def write_table(self, name: str, frame: pd.DataFrame) -> None:
        self.account.write_table(self._table(name), frame)

    def read_table(self, name: str) -> pd.DataFrame | None:
        return self.account.read_table(self._table(name))

    def mark_table(self, name: str) -> None:
        with self._duck() as duck:
            duck.execute(f"COMMENT ON TABLE {self._table(name)} IS '{MARKER}'")

    def is_marked(self, name: str) -> bool:
        with self._duck() as duck:
            rows = duck.execute(
                "SELECT comment FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? "
                "AND table_name = ?",
                [self.database, self.schema, Identifier.parse(name).value],
            ).fetchall()
        return rows == [(MARKER,)]

    def stage_dir(self, location: str) -> Path:
        from airflow_snowflake_batch.identifiers import StageLocation

        return self.account.stage_dir(StageLocation.parse(location).qualify(self.database, self.schema).sql)
