"""The two sides of the contract suite: the same hook over the local backend and the Snowflake backend.

Every contract test takes the ``side`` fixture (``conftest.py``), parametrized ``local`` and
``snowflake``, and only talks to a :class:`Side`: tables in and out, stage files, the model, the hook, jobs. No test branches
on the backend.

``local``: a real :class:`~airflow_snowflake_batch.local.LocalWorkspace` (DuckDB files, stage folders,
the local registry, detached job processes).

``snowflake``: the real hook and :class:`SnowflakeBackend`, with only Snowpark and snowflake-ml
doubled (autospecs of the real classes), over :class:`SqlEngine`: every statement the backend sends
is parsed by sqlglot's Snowflake dialect (a parse error fails the test) and run on DuckDB after
sqlglot transpiles it, so tables, rows and transactions are real. The few statements DuckDB has no
counterpart for (``SHOW``, ``LIST``, ``COPY INTO`` from a stage, ``INFER_SCHEMA``) are answered from
the stage folders as Snowflake documents them. ``ModelVersion.run()`` checks its input with
snowflake-ml's own ``_validate_snowpark_data`` and scores with the same model as the local side;
``run_batch()`` jobs score at once into the stage folder (or stay RUNNING while held). This moves
onto the emulated account of the issue "The Snowflake path through the real libraries" when it lands.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pandas as pd
import pytest
import sqlglot
from contract_models import Scorer, signature
from sqlglot import exp

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

    def hook(self) -> SnowflakeBatchInferenceHook:
        return SnowflakeBatchInferenceHook(CONN_ID)

    def wait(self, hook: SnowflakeBatchInferenceHook, job_id: str, timeout: float = 120.0) -> JobState:
        deadline = time.monotonic() + timeout
        while not (state := hook.get_job_state(job_id)).status.is_terminal:
            assert time.monotonic() < deadline, f"job {job_id} still {state.status.value} after {timeout}s"
            time.sleep(0.1)
        return state

    @contextlib.contextmanager
    def held_jobs(self) -> Iterator[None]:
        """Jobs submitted inside stay RUNNING (so a test can re-attach to or cancel them)."""
        raise NotImplementedError
        yield


# -- local ----------------------------------------------------------------------------------------


class LocalSide(Side):
    name = "local"

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

    @contextlib.contextmanager
    def held_jobs(self) -> Iterator[None]:
        from airflow_snowflake_batch.backends.local.job_runner import DELAY_ENV

        with self._monkeypatch.context() as patch:
            patch.setenv(DELAY_ENV, "600")
            yield


# -- snowflake ------------------------------------------------------------------------------------

SF_CONN = {
    "conn_type": "snowflake",
    "login": "scorer",
    "password": "secret",
    "schema": "SC",
    "extra": {"account": "acme-test", "database": "DB", "warehouse": "WH", "role": "ML"},
}
_STAGE_TYPE = "INTERNAL NO CSE"  # SHOW STAGES' type of an SSE-encrypted internal stage
# Parquet (Arrow) types as INFER_SCHEMA reports them.
_INFERRED_TYPES = {
    "int64": "NUMBER(38, 0)", "int32": "NUMBER(38, 0)", "double": "REAL", "string": "TEXT", "bool": "BOOLEAN"
}  # fmt: skip
_DUCK_TYPES = {"NUMBER(38, 0)": "BIGINT", "REAL": "DOUBLE", "TEXT": "VARCHAR", "BOOLEAN": "BOOLEAN"}


def _row(**values: Any) -> Any:
    from snowflake.snowpark import Row

    return Row(**values)


_JOB_STATEMENT = re.compile(
    r"(?P<verb>DESCRIBE SERVICE|SHOW JOB SERVICES IN SCHEMA|CALL)\s+(?P<name>[^!\s]+)(?:!SPCS_CANCEL_JOB\(\))?",
    re.I,
)


class SqlEngine:
    """Runs the Snowflake backend's statements on DuckDB, after sqlglot parses and transpiles them."""

    def __init__(self, root: Path) -> None:
        import duckdb

        self.root = root
        self.db = duckdb.connect()
        self.db.execute("ATTACH ':memory:' AS DB")
        self.db.execute("CREATE SCHEMA DB.SC")
        self.db.execute("USE DB.SC")
        self.load_history: dict[str, set[str]] = {}
        self.statements: list[str] = []
        self.jobs: dict[str, str] = {}  # job id -> status

    # Stage files live in <root>/stages/<STAGE>/<path>.
    def stage_dir(self, location: str) -> Path:
        from airflow_snowflake_batch.identifiers import StageLocation

        parsed = StageLocation.parse(location).qualify("DB", "SC")
        return self.root / "stages" / parsed.stage.name.value / parsed.path

    def __call__(self, text: str, params: list[Any] | None = None) -> list[Any]:
        if (job := _JOB_STATEMENT.fullmatch(text)) is not None:
            # SPCS statements sqlglot has no grammar for: their one name must be a valid identifier.
            self.statements.append(text)
            return self.job_statement(job["verb"].upper(), ObjectName.parse(job["name"]))
        tree = sqlglot.parse_one(text, read="snowflake")  # a parse error fails the test
        self.statements.append(text)
        assert not tree.args.get("replace"), f"CREATE OR REPLACE would drop the table object: {text}"
        upper = text.upper()
        if upper.startswith("SHOW COLUMNS IN TABLE"):
            table = text.split()[-1]
            return [_row(column_name=name) for name in self.columns(table)]
        if upper.startswith("SHOW TABLES LIKE"):
            name = re.search(r"LIKE '([^']*)'", text).group(1)
            return [_row(name=name)] if name in self.columns_by_table() else []
        if upper.startswith("SHOW STAGES LIKE"):
            name = re.search(r"LIKE '([^']*)'", text).group(1)
            return [_row(name=name, type=_STAGE_TYPE)] if (self.root / "stages" / name).is_dir() else []
        if upper.startswith("LIST "):
            folder = self.stage_dir(text.split()[1])
            stage = text.split()[1].lstrip("@").split("/")[0].split(".")[-1].lower()
            prefix = text.split()[1].split("/", 1)[1] if "/" in text.split()[1] else ""
            return (
                [
                    _row(name=f"{stage}/{prefix}{p.relative_to(folder).as_posix()}")
                    for p in sorted(folder.rglob("*"))
                    if p.is_file()
                ]
                if folder.is_dir()
                else []
            )
        if upper.startswith("REMOVE "):
            shutil.rmtree(self.stage_dir(text.split()[1]), ignore_errors=True)
            return []
        if upper.startswith("DROP SERVICE"):
            self.jobs.pop(text.split()[-1], None)
            return []
        if upper.startswith("CREATE FILE FORMAT"):
            return []
        if "INFER_SCHEMA" in upper and upper.startswith("SELECT COLUMN_NAME"):
            return [_row(COLUMN_NAME=n, TYPE=t) for n, t in self.parquet_columns(text)]
        template = re.match(r"CREATE TABLE IF NOT EXISTS (\S+) USING TEMPLATE", text)
        if template:
            columns = ", ".join(f'"{n}" {_DUCK_TYPES[t]}' for n, t in self.parquet_columns(text))
            self.db.execute(f"CREATE TABLE IF NOT EXISTS {template.group(1)} ({columns})")
            return []
        if upper.startswith("COPY INTO"):
            return self.copy(tree, text)
        like = re.fullmatch(r"CREATE (TEMPORARY )?TABLE (IF NOT EXISTS )?(\S+) LIKE (\S+)", text)
        if like:
            self.db.execute(
                f"CREATE TABLE {like.group(2) or ''}{like.group(3)} AS SELECT * FROM {like.group(4)} LIMIT 0"
            )
            return []
        duck = sqlglot.transpile(text, read="snowflake", write="duckdb")[0]
        result = self.db.execute(duck, params or [])
        if result.description is None:
            return []
        names = [d[0] for d in result.description]
        return [_row(**dict(zip(names, values, strict=True))) for values in result.fetchall()]

    def job_statement(self, verb: str, name: ObjectName) -> list[Any]:
        """``DESCRIBE SERVICE``, ``CALL <job>!SPCS_CANCEL_JOB()`` and ``SHOW JOB SERVICES IN SCHEMA``."""
        from snowflake.snowpark.exceptions import SnowparkSQLException

        if verb == "SHOW JOB SERVICES IN SCHEMA":
            prefix = f"{name.sql}."  # the schema, parsed as a two-part name
            return [
                _row(name=job_id[len(prefix) :], status=status)
                for job_id, status in self.jobs.items()
                if job_id.startswith(prefix)
            ]
        job_id = name.sql
        if job_id not in self.jobs:
            raise SnowparkSQLException(
                f"Service {job_id} does not exist or not authorized.", sql_error_code=2003
            )
        if verb == "DESCRIBE SERVICE":
            return [_row(name=name.name.value, status=self.jobs[job_id])]
        if self.jobs[job_id] in ("PENDING", "RUNNING"):
            self.jobs[job_id] = "CANCELLED"
        return []

    def columns_by_table(self) -> dict[str, list[str]]:
        rows = self.db.execute(
            "SELECT table_name, column_name FROM duckdb_columns() WHERE database_name = 'DB' ORDER BY column_index"
        ).fetchall()
        found: dict[str, list[str]] = {}
        for table, column in rows:
            found.setdefault(table, []).append(column)
        return found

    def columns(self, table: str) -> list[str]:
        return self.columns_by_table().get(table.split(".")[-1].strip('"'), [])

    def _files(self, text: str) -> list[Path]:
        location = re.search(r"(@[^\s',)]+)", text).group(1)
        folder = self.stage_dir(location)
        return sorted(p for p in folder.glob("*.parquet")) if folder.is_dir() else []

    def parquet_columns(self, text: str) -> list[tuple[str, str]]:
        import pyarrow.parquet as pq

        columns: dict[str, str] = {}
        for path in self._files(text):
            for field in pq.read_schema(path):
                columns.setdefault(field.name.upper(), _INFERRED_TYPES[str(field.type)])
        return list(columns.items())

    def copy(self, tree: exp.Expression, text: str) -> list[Any]:
        table = tree.this.sql(dialect="snowflake")
        history = self.load_history.setdefault(table, set())
        files = [p for p in self._files(text) if "FORCE = TRUE" in text or str(p) not in history]
        if not files:
            return [_row(status="Copy executed with 0 files processed.")]
        have = {c.upper(): c for c in self.columns(table)}
        loaded = []
        for path in files:
            names = [
                d[0]
                for d in self.db.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(path)]).fetchall()
            ]
            pairs = [(have[n.upper()], n) for n in names if n.upper() in have]  # MATCH_BY_COLUMN_NAME
            targets = ", ".join(f'"{t}"' for t, _ in pairs)
            sources = ", ".join(f'"{s}"' for _, s in pairs)
            count = self.db.execute(
                f"INSERT INTO {table} ({targets}) SELECT {sources} FROM read_parquet(?)", [str(path)]
            ).fetchone()[0]
            history.add(str(path))
            loaded.append(_row(file=path.name, status="LOADED", rows_parsed=count, rows_loaded=count))
        return loaded

    def frame(self, query: str) -> pd.DataFrame:
        return self.db.execute(sqlglot.transpile(query, read="snowflake", write="duckdb")[0]).df()

    def schema(self, query: str) -> Any:
        """The Snowpark StructType of a query's result, as ``DataFrame.schema`` describes it."""
        from snowflake.snowpark import types as t

        duck = sqlglot.transpile(query, read="snowflake", write="duckdb")[0]
        kinds = {
            "BIGINT": t.LongType(),
            "INTEGER": t.LongType(),
            "DOUBLE": t.DoubleType(),
            "FLOAT": t.DoubleType(),
            "VARCHAR": t.StringType(),
            "BOOLEAN": t.BooleanType(),
            "DECIMAL(38,0)": t.LongType(),
        }
        fields = []
        for name, kind, *_ in self.db.execute(f"DESCRIBE {duck}").fetchall():
            quoted = name if re.fullmatch(r"[A-Z_][A-Z0-9_$]*", name) else f'"{name}"'
            fields.append(t.StructField(quoted, kinds.get(kind, t.StringType())))
        return t.StructType(fields)


class SnowflakeDoubles:
    """Autospecs of the real Snowpark and snowflake-ml classes, built once per test session.

    Building an autospec of ``Session`` or ``DataFrame`` takes most of a second on a loaded machine,
    so each test gets these reset and re-wired (:meth:`SnowflakeSide.__init__`) instead of new ones.
    """

    def __init__(self) -> None:
        from snowflake.ml.jobs import MLJob
        from snowflake.ml.model import Model, ModelVersion
        from snowflake.ml.registry import Registry
        from snowflake.snowpark import DataFrame, DataFrameWriter, Session

        self.classes = {"DataFrame": DataFrame, "DataFrameWriter": DataFrameWriter, "MLJob": MLJob}
        self.session = mock.create_autospec(Session, instance=True, spec_set=True)
        self.frame = self.dataframe()
        self.scored = self.dataframe()
        self.version = mock.create_autospec(ModelVersion, instance=True, spec_set=True)
        self.model = mock.create_autospec(Model, instance=True, spec_set=True)
        self.registry = mock.create_autospec(Registry, spec_set=True)

    def dataframe(self) -> Any:
        df = mock.create_autospec(self.classes["DataFrame"], instance=True, spec_set=True)
        df.write = mock.create_autospec(self.classes["DataFrameWriter"], instance=True, spec_set=True)
        return df

    def reset(self) -> None:
        for double in (self.session, self.frame, self.frame.write, self.scored, self.scored.write,
                       self.version, self.model, self.registry):  # fmt: skip
            double.reset_mock(return_value=True, side_effect=True)


class SnowflakeSide(Side):
    name = "snowflake"

    def __init__(
        self,
        root: Path,
        monkeypatch: pytest.MonkeyPatch,
        stack: contextlib.ExitStack,
        doubles: SnowflakeDoubles,
    ) -> None:
        doubles.reset()
        self.engine = SqlEngine(root)
        (root / "stages" / STAGE).mkdir(parents=True)
        self._classes = doubles.classes
        self._held = False
        self._pending: list[tuple[str, Any]] = []
        self._current: tuple[str, list[Any] | None] = ("", None)
        self._frame = self._wire_frame(doubles.frame)
        self._scored = doubles.scored
        self._jobs: dict[str, Any] = {}
        monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(SF_CONN))

        session = doubles.session
        session.sql.side_effect = lambda query, params=None, **_: self._dataframe(query, params)
        session.table.side_effect = lambda name, *_, **__: self._dataframe(f"SELECT * FROM {name}", None)
        stack.enter_context(
            mock.patch(
                "airflow.providers.snowflake.hooks.snowflake.SnowflakeHook.get_snowpark_session",
                autospec=True,
                return_value=session,
            )
        )
        version = doubles.version
        version.version_name = "V1"
        version.show_functions.return_value = [
            {"name": "PREDICT", "target_method": "predict", "target_method_function_type": "FUNCTION",
             "signature": signature(), "is_partitioned": False}
        ]  # fmt: skip
        version.run.side_effect = self._run
        version.run_batch.side_effect = self._run_batch
        model = doubles.model
        model.default = version
        model.version.side_effect = lambda name: version

        def get_model(name: str) -> Any:
            if name != MODEL:
                raise ValueError(f"Unable to find model {name}")
            return model

        doubles.registry.return_value.get_model.side_effect = get_model
        stack.enter_context(mock.patch("snowflake.ml.registry.Registry", new=doubles.registry))
        stack.enter_context(mock.patch("snowflake.ml.jobs.get_job", side_effect=self._get_job))
        self.model = Scorer()

    # -- tables
    def write_table(self, name: str, frame: pd.DataFrame) -> None:
        self.engine.db.register("_frame", frame)
        self.engine.db.execute(f"CREATE OR REPLACE TABLE DB.SC.{name} AS SELECT * FROM _frame")
        self.engine.db.unregister("_frame")

    def read_table(self, name: str) -> pd.DataFrame | None:
        if not self.engine.columns(name):
            return None
        return self.engine.db.execute(f"SELECT * FROM DB.SC.{name}").df()

    def mark_table(self, name: str) -> None:
        self.engine.db.execute(f"COMMENT ON TABLE DB.SC.{name} IS '{MARKER}'")

    def is_marked(self, name: str) -> bool:
        rows = self.engine.db.execute(
            "SELECT comment FROM duckdb_tables() WHERE database_name = 'DB' AND table_name = ?", [name]
        ).fetchall()
        return rows == [(MARKER,)]

    def stage_dir(self, location: str) -> Path:
        return self.engine.stage_dir(location)

    @contextlib.contextmanager
    def held_jobs(self) -> Iterator[None]:
        self._held = True
        try:
            yield
        finally:
            self._held = False

    # -- Snowpark doubles
    def _dataframe(self, query: str, params: list[Any] | None) -> Any:
        """The DataFrame ``session.sql``/``session.table`` return, for the statement just made.

        One autospec serves every statement (building one takes most of a second): the backend
        collects or describes each DataFrame, or hands it to ``run()``/``run_batch()``, before making
        the next, so it always reads the statement made last.
        """
        self._current = (query, params)
        return self._frame

    def _wire_frame(self, df: Any) -> Any:
        df.collect.side_effect = lambda *_, **__: self.engine(*self._current)
        type(df).schema = mock.PropertyMock(side_effect=lambda: self.engine.schema(self._current[0]))
        return df

    def _score(self, query: str) -> pd.DataFrame:
        """Input columns plus the outputs, named by the rule snowflake-ml picks (``ModelOperator._run``)."""
        frame = self.engine.frame(query)
        stored = {c: c for c in frame.columns}
        exact = all(f.name in stored for f in signature().inputs)
        features = pd.DataFrame(
            {f.name: frame[f.name if exact else f.name.upper()] for f in signature().inputs}
        ).astype({f.name: f.as_dtype() for f in signature().inputs})
        outputs = self.model.predict(features)
        names = {o.name: o.name if exact else o.name.upper() for o in signature().outputs}
        kept = frame[[c for c in frame.columns if c not in names.values()]]
        return pd.concat([kept.reset_index(drop=True), outputs.rename(columns=names)], axis=1)

    def _run(self, df: Any, **_: Any) -> Any:
        from snowflake.ml.model import model_signature as ms

        ms._validate_snowpark_data(df, signature().inputs)  # snowflake-ml's own input check
        assert df is self._frame
        scored = {"frame": self._score(self._current[0])}
        result = self._scored
        extra: dict[str, Any] = {}

        def with_column(name: str, column: Any) -> Any:
            extra[name] = column._expression.value
            return result

        def with_column_renamed(existing: str, new: str) -> Any:
            renamed = {Identifier.parse(existing).value: Identifier.parse(new).value}
            scored["frame"] = scored["frame"].rename(columns=renamed)
            return result

        def save_as_table(name: str, mode: str, table_type: str = "") -> None:
            assert mode == "errorifexists" and table_type == "temporary"
            frame = scored["frame"].assign(**extra)
            self.engine.db.register("_scored", frame)
            self.engine.db.execute(f"CREATE TABLE {name} AS SELECT * FROM _scored")
            self.engine.db.unregister("_scored")

        result.with_column.side_effect = with_column
        result.with_column_renamed.side_effect = with_column_renamed
        # DataFrame.columns names columns as SQL identifiers (quoted when not upper case).
        type(result).columns = mock.PropertyMock(
            side_effect=lambda: [Identifier(c).sql for c in scored["frame"].columns]
        )
        result.write.save_as_table.side_effect = save_as_table
        return result

    def _run_batch(
        self, X: Any, *, output_spec: Any, job_name: str, input_stage_location: Any, **_: Any
    ) -> Any:
        assert input_stage_location is None, "contract jobs read a table or a query"
        job_id = job_name
        folder = self.engine.stage_dir(output_spec.stage_location) / job_id.split(".")[-1]
        self.engine.jobs[job_id] = "RUNNING"
        assert X is self._frame
        query = self._current[0]
        work = (job_id, lambda: self._finish(job_id, query, folder))
        if self._held:
            self._pending.append(work)
        else:
            work[1]()
        return self._job(job_id)

    def _finish(self, job_id: str, query: str, folder: Path) -> None:
        if self.engine.jobs.get(job_id) != "RUNNING":
            return
        try:
            scored = self._score(query)
        except ValueError:
            self.engine.jobs[job_id] = "FAILED"
            return
        folder.mkdir(parents=True, exist_ok=True)
        if len(scored):  # an empty input writes no Parquet file, only _SUCCESS
            scored.to_parquet(folder / "data_0_0_0.parquet", index=False)
        (folder / "_SUCCESS").write_bytes(b"")
        self.engine.jobs[job_id] = "DONE"

    def _job(self, job_id: str) -> Any:
        """The job's MLJob double (one per job), showing its current status."""
        job = self._jobs.get(job_id)
        if job is None:
            job = self._jobs[job_id] = mock.create_autospec(
                self._classes["MLJob"], instance=True, spec_set=True
            )
            job.id = job_id
            job.get_logs.return_value = ""
            job.cancel.side_effect = lambda: self.engine.jobs.__setitem__(job_id, "CANCELLED")
        job.status = self.engine.jobs[job_id]
        return job

    def _get_job(self, job_id: str, session: Any = None) -> Any:
        from snowflake.snowpark.exceptions import SnowparkSQLException

        if job_id not in self.engine.jobs:
            raise SnowparkSQLException(f"Job {job_id} does not exist", sql_error_code=2003)
        return self._job(job_id)

    def release_jobs(self) -> None:
        """Let held jobs run (the local side's jobs end on their own once their delay is over)."""
        for _, finish in self._pending:
            finish()
        self._pending.clear()
