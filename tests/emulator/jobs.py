"""SPCS batch inference job services, run as real local job processes.

``EXECUTE INFERENCE JOB SERVICE`` starts the local backend's detached job runner
(``airflow_snowflake_batch.backends.local.job_runner``) on the input (a stage folder, or the rows of
``FROM (query)`` unloaded to Parquet), with the model from the emulated registry; it writes real
Parquet files and ``_SUCCESS`` into ``<output stage_location>/<JOB_NAME>/``. Then:

- ``DESCRIBE SERVICE IDENTIFIER(?)`` / ``DESCRIBE SERVICE <name>``: ``status``, ``spec``,
  ``compute_pool``... of a service that exists (error 2003 otherwise, also after ``DROP SERVICE``);
- ``SHOW JOB SERVICES [LIKE '...'] IN SCHEMA DB.SC``;
- ``... TABLE(SNOWFLAKE.SPCS.GET_JOB_HISTORY()) WHERE ...``: every job ever submitted, dropped or
  not, in submission order (Snowflake documents no order), filtered by the bound database, schema and
  name; ``ORDER BY ... DESC`` reverses it;
  Its ``CREATED_TIME`` is the submit time and ``COMPLETED_TIME`` the time the job's status became
  terminal (NULL before), as TIMESTAMP_LTZ text;
- ``SHOW COMPUTE POOLS LIKE '<pool>'``: ``name``, ``state``, ``instance_family`` of the pools in
  :attr:`JobService.compute_pools` (a pool the account lacks gives no row, as Snowflake's ``LIKE`` does);
- ``SYSTEM$GET_SERVICE_LOGS(?, ?, ?[, ?])``: the job log;
- ``CALL <job>!spcs_cancel_job()``: cancels (error 2003 for a dropped service);
- ``DROP SERVICE [IF EXISTS] <name> | IDENTIFIER(?)``: cancels a running job, forgets the service;
- ``ALTER SERVICE <name> SUSPEND | RESUME``: the job reads ``SUSPENDED`` until resumed;
- ``SHOW SERVICE INSTANCES IN SERVICE <name>``: one row per replica.

Statuses are the emulator's own: DESCRIBE SERVICE's documented list (snowflake-ml's ``ServiceStatus``)
and ``snowflake.ml.jobs``' ``JOB_STATUS`` (``CANCELLING``, ``CANCELLED``), both imported from
snowflake-ml; any other value is an emulator error. Names follow Snowflake's identifier rules
(:mod:`emulator.names`). A finished job service is kept :data:`RETENTION_DAYS` days on the emulator's
clock (:meth:`JobService.advance_clock`), then DESCRIBE SERVICE answers "does not exist", as Snowflake
does once a job's metadata is gone. :attr:`JobService.without_success` names jobs that write no
``_SUCCESS`` (snowflake-ml never mentions the marker).
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
import typing
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml
from snowflake.ml.jobs._utils.type_utils import JOB_STATUS
from snowflake.ml.model._client.sql.service import ServiceStatus

from airflow_snowflake_batch.backends.local import jobs as local_jobs
from airflow_snowflake_batch.backends.local.layout import Layout, write_json_atomic
from emulator.models import ModelStore
from emulator.names import Name
from emulator.server import Answer, Query, Rewrite, SqlError, status_answer
from emulator.stages import StageFiles

# Every status a job service may report: DESCRIBE SERVICE's documented list (snowflake-ml's
# ServiceStatus mirrors it) and snowflake.ml.jobs' own JOB_STATUS (CANCELLING, CANCELLED).
STATUSES = frozenset({s.value for s in ServiceStatus} | set(typing.get_args(JOB_STATUS)))
_TERMINAL = frozenset({"DONE", "FAILED", "CANCELLED", "INTERNAL_ERROR", "DELETED"})
# BCR-2093 (2025_06 bundle): finished job services are kept 14 days, then their metadata is gone.
RETENTION_DAYS = 14
# A TIMESTAMP_LTZ column as fakesnow's result encoding reads it (microseconds: other units come out shifted).
_TIMESTAMP = pa.timestamp("us", "UTC")

_EXECUTE = re.compile(r"^\s*EXECUTE\s+INFERENCE\s+JOB\s+SERVICE\b", re.I)
_CLAUSES = {
    "pool": re.compile(r"IN\s+COMPUTE\s+POOL\s+(\S+)", re.I),
    "spec": re.compile(r"WITH\s+SPECIFICATION\s+'((?:[^'\\]|\\.|'')*)'", re.I | re.S),
    "model": re.compile(r"\n\s*MODEL\s*=\s*(\S+)", re.I),
    "version": re.compile(r"\n\s*VERSION\s*=\s*(\S+)", re.I),
    "function": re.compile(r"\n\s*FUNCTION\s*=\s*'((?:[^']|'')*)'", re.I),
    "name": re.compile(r"\n\s*NAME\s*=\s*(\S+)", re.I),
    "replicas": re.compile(r"\n\s*REPLICAS\s*=\s*(\d+)", re.I),
}
_FROM = re.compile(r"\n\s*FROM\s+(?P<source>@\S+|\((?P<query>.*)\))\s*\n\s*MODEL\s*=", re.I | re.S)
_DESCRIBE = re.compile(r"^\s*(?:DESCRIBE|DESC)\s+SERVICE\s+(?P<name>IDENTIFIER\(\?\)|\S+?)\s*;?\s*$", re.I)
_SHOW = re.compile(
    r"^\s*SHOW\s+(?:JOB\s+)?SERVICES(?:\s+LIKE\s+'(?P<like>[^']*)')?(?:\s+IN\s+SCHEMA\s+(?P<schema>\S+?))?\s*;?\s*$",
    re.I,
)
_POOLS = re.compile(r"^\s*SHOW\s+COMPUTE\s+POOLS\s+LIKE\s+'(?P<like>[^']*)'\s*;?\s*$", re.I)
_HISTORY = re.compile(r"GET_JOB_HISTORY\s*\(", re.I)
_LOGS = re.compile(r"SYSTEM\$GET_SERVICE_LOGS\s*\(", re.I)
_CANCEL = re.compile(r"^\s*CALL\s+(?P<name>\S+?)!spcs_cancel_job\(\)\s*;?\s*$", re.I)
_DROP = re.compile(
    r"^\s*DROP\s+SERVICE\s+(?P<exists>IF\s+EXISTS\s+)?(?P<name>IDENTIFIER\(\?\)|\S+?)\s*;?\s*$", re.I
)
_ALTER = re.compile(r"^\s*ALTER\s+SERVICE\s+(?P<name>\S+)\s+(?P<action>SUSPEND|RESUME)\s*;?\s*$", re.I)
_INSTANCES = re.compile(r"^\s*SHOW\s+SERVICE\s+INSTANCES\s+IN\s+SERVICE\s+(?P<name>\S+?)\s*;?\s*$", re.I)
_COLUMNS = [
    "name",
    "status",
    "database_name",
    "schema_name",
    "compute_pool",
    "spec",
    "target_instances",
    "min_instances",
    "max_instances",
    "created_on",
]


@dataclass
class _Service:
    name: Name
    compute_pool: str
    job_dir: Path
    output_dir: Path
    replicas: int
    created: datetime
    writes_success: bool = True
    dropped: bool = False
    suspended: bool = False
    ended_at: float | None = None  # the emulator clock's time when a terminal status was first read

    def status(self, now: float) -> str:
        state = local_jobs.state(self.name.sql, self.job_dir)
        # The local runner's status, checked against Snowflake's list rather than trusted.
        status = str(state.status.value) if state is not None else "INTERNAL_ERROR"
        if status not in STATUSES:
            raise SqlError(999999, f"Emulator: job status {status!r} is not one Snowflake reports.", "XX000")
        if self.suspended and status not in _TERMINAL:
            return "SUSPENDED"
        if status in _TERMINAL and self.ended_at is None:
            self.ended_at = now
        if status == "DONE" and not self.writes_success:
            (self.output_dir / "_SUCCESS").unlink(missing_ok=True)
        return status

    def completed_on(self) -> str | None:
        """When the job's status became terminal (its status file's last write), as TIMESTAMP_LTZ text."""
        state = local_jobs.state(self.name.sql, self.job_dir)
        if state is None or str(state.status.value) not in _TERMINAL:
            return None
        return _ltz(local_jobs.read_status(self.job_dir)["updated_on"])

    def row(self, now: float) -> dict[str, Any]:
        return {
            "name": self.name.name,
            "status": self.status(now),
            "database_name": self.name.database,
            "schema_name": self.name.schema,
            "compute_pool": self.compute_pool,
            "spec": yaml.safe_dump(
                {"spec": {"containers": [{"name": "main", "image": "emulated", "env": {}}]}}
            ),
            "target_instances": self.replicas,
            "min_instances": self.replicas,
            "max_instances": self.replicas,
            "created_on": self.created,
        }


class JobService:
    """The job services of the account: live ones by name, and every one ever submitted (the history)."""

    def __init__(self, layout: Layout, stages: StageFiles, models: ModelStore) -> None:
        self.layout = layout
        self.stages = stages
        self.models = models
        #: The account's compute pools and their instance family (CREATE COMPUTE POOL's INSTANCE_FAMILY).
        self.compute_pools: dict[str, str] = {"POOL": "CPU_X64_S"}
        self.without_success: set[str] = set()  # job names (as stored) whose job writes no _SUCCESS
        self._clock_offset = 0.0
        self._live: dict[str, _Service] = {}
        self._history: list[_Service] = []
        self._lock = threading.Lock()

    # -- test knobs --------------------------------------------------------------------------------

    def now(self) -> float:
        """The emulator's clock (seconds since the epoch), which :meth:`advance_clock` moves on."""
        return time.time() + self._clock_offset

    def advance_clock(self, days: float) -> None:
        """Move the emulator's clock on, e.g. past :data:`RETENTION_DAYS` to expire finished jobs."""
        self._clock_offset += days * 86400

    def reset_clock(self) -> None:
        """Back to real time (the account is shared by a test session: a test that moves it puts it back)."""
        self._clock_offset = 0.0

    def _expire(self) -> None:
        """Forget finished services older than the retention (their metadata is gone on Snowflake)."""
        cutoff = self.now() - RETENTION_DAYS * 86400
        with self._lock:
            for key, service in list(self._live.items()):
                if service.ended_at is not None and service.ended_at < cutoff:
                    del self._live[key]

    def handle(self, query: Query) -> Answer | Rewrite | None:
        text, params = query.text, list(query.params or ())
        self._expire()
        if _EXECUTE.match(text):
            if query.describe_only:
                return status_answer("")
            return self._execute(text)
        if match := _DESCRIBE.match(text):
            return _rows([self._service(self._name(match["name"], params)).row(self.now())])
        if match := _SHOW.match(text):
            return self._show(match["like"], match["schema"])
        if match := _POOLS.match(text):
            return self._pools(match["like"])
        if _HISTORY.search(text):
            return self._job_history(text, params)
        if _LOGS.search(text):
            service = self._service(Name.parse(str(params[0])))
            lines = local_jobs.logs(service.job_dir).splitlines()
            limit = int(params[3]) if len(params) > 3 else 0
            return Answer(
                pa.table({"SYSTEM$GET_SERVICE_LOGS": ["\n".join(lines[-limit:] if limit else lines)]})
            )
        if match := _ALTER.match(text):
            service = self._service(Name.parse(match["name"]))
            service.suspended = match["action"].upper() == "SUSPEND"
            return status_answer("Statement executed successfully.")
        if match := _INSTANCES.match(text):
            service = self._service(Name.parse(match["name"]))
            status = service.status(self.now())
            return Answer(
                pa.table(
                    {
                        "database_name": [service.name.database] * service.replicas,
                        "schema_name": [service.name.schema] * service.replicas,
                        "service_name": [service.name.name] * service.replicas,
                        "service_status": [status] * service.replicas,
                        "instance_id": [str(i) for i in range(service.replicas)],
                        "status": [status] * service.replicas,
                        "spec_digest": ["emulated"] * service.replicas,
                        "creation_time": pa.array([service.created] * service.replicas, _TIMESTAMP),
                        "start_time": pa.array([service.created] * service.replicas, _TIMESTAMP),
                    }
                )
            )
        if match := _CANCEL.match(text):
            service = self._service(Name.parse(match["name"]))
            local_jobs.cancel(service.name.sql, service.job_dir, self.layout)
            return status_answer(f"Job {service.name.sql} cancelled.")
        if match := _DROP.match(text):
            return self._drop(self._name(match["name"], params), if_exists=bool(match["exists"]))
        return None

    # -- submit ------------------------------------------------------------------------------------

    def _execute(self, text: str) -> Rewrite:
        found = {
            key: (m.group(1) if (m := pattern.search(text)) else None) for key, pattern in _CLAUSES.items()
        }
        source = _FROM.search(text)
        if not found["spec"] or not found["model"] or source is None:
            raise SqlError(
                1003,
                "SQL compilation error: EXECUTE INFERENCE JOB SERVICE needs a specification, FROM and MODEL.",
            )
        spec = yaml.safe_load(re.sub(r"\\(.)|''", lambda m: m.group(1) or "'", found["spec"]))
        model = Name.parse(found["model"])
        name = (
            Name.parse(found["name"])
            if found["name"]
            else Name(
                name=f"BATCH_INFERENCE_{uuid.uuid4().hex[:12].upper()}",
                schema=model.schema,
                database=model.database,
            )
        )
        with self._lock:
            if name.sql in self._live:
                raise SqlError(2002, f"Object '{name.sql}' already exists.", "42710")
        version = self.models.resolve(model, found["version"])
        function = self.models.function_entry(model, version, found["function"] or "")
        output = spec["output"]["stage_location"].rstrip("/") + "/" + name.name + "/"
        output_dir = self.stages.folder(output)
        if output_dir.is_dir() and any(p.is_file() for p in output_dir.rglob("*")):
            if spec["output"].get("mode", "error") == "error":
                raise SqlError(
                    100357, f"Output location {output} is not empty (output mode is ERROR).", "22000"
                )
            shutil.rmtree(output_dir)

        job_dir = self.layout.root / "services" / uuid.uuid4().hex
        job_dir.mkdir(parents=True)
        scratch = None
        if source["query"] is not None:
            import pyarrow.parquet as pq

            scratch = job_dir / "input"
            scratch.mkdir()
            pq.write_table(self.stages.run(source["query"]), scratch / "data_0.parquet")
            input_dir = scratch
        else:
            input_dir = self.stages.folder(source["source"])
        failure = None
        if handling := (spec.get("input") or {}).get("column_handling"):
            scratch = job_dir / "input_files"
            try:
                self._read_files(input_dir, scratch, handling)
                input_dir = scratch
            except (OSError, ValueError) as exc:
                failure = f"Job failed: column_handling: {exc}"
        inference = spec.get("inference") or {}
        replicas = int(found["replicas"] or 1)
        write_json_atomic(
            job_dir / local_jobs.JOB_FILE,
            {
                "job_id": name.sql,
                "workspace": str(self.layout.root),
                "database": name.database,
                "schema": name.schema,
                "version_dir": str(self.models.version_dir(model, version)),
                "target_method": function["target_method"],
                "input_dir": str(input_dir),
                "scratch_input": str(scratch) if scratch else None,
                "output_dir": str(output_dir),
                "max_batch_rows": int(inference.get("max_batch_rows") or 1024),
                "processes": replicas * int(inference.get("num_workers") or 1),
                "params": (spec.get("input") or {}).get("params") or {},
                "column_handling": {},
            },
        )
        # The local runner's status file takes any enum member: snowflake-ml's own statuses.
        if failure is None:
            local_jobs.write_status(job_dir, ServiceStatus.PENDING, "Submitted.")  # type: ignore[arg-type]
        else:
            local_jobs.write_status(job_dir, ServiceStatus.FAILED, failure)  # type: ignore[arg-type]
        service = _Service(
            name,
            found["pool"] or "",
            job_dir,
            output_dir,
            replicas,
            datetime.fromtimestamp(self.now(), timezone.utc),
            writes_success=name.name not in self.without_success,
        )
        with self._lock:
            self._live[name.sql] = service
            self._history.append(service)
        if failure is None:
            local_jobs.start_process(job_dir)
        # A plain SELECT for fakesnow, so an ASYNC submit can fetch its result by query id.
        return Rewrite(f"SELECT 'Batch inference job {name.sql} submitted.' AS \"status\"")

    def _read_files(self, input_dir: Path, target: Path, handling: dict[str, Any]) -> None:
        """The input with each ``column_handling`` column's stage paths replaced by those files' contents.

        snowflake-ml's ``InputSpec.column_handling`` (``batch_inference_job_specs``): a column whose
        ``input_format`` is ``full_stage_path`` holds full stage paths (``@DB.SC.STAGE/path``); the job
        reads each file and hands the model its bytes (``raw_bytes``), their base64 text (``base64``) or
        a ``data:<MIME type>;base64,`` URL (``base64_data_url``). Column names are matched exactly (the
        stricter choice: Snowflake documents no case folding here). A missing file fails the job.
        """
        import base64
        import mimetypes

        import pyarrow.parquet as pq

        table = pa.concat_tables(pq.read_table(f) for f in sorted(input_dir.glob("*.parquet")))
        for column, options in handling.items():
            if column not in table.column_names:
                raise ValueError(f"column {column!r} is not in the input ({table.column_names})")
            if options.get("input_format") != "full_stage_path":
                raise ValueError(f"input_format {options.get('input_format')!r} is not full_stage_path")
            convert_to = options.get("convert_to")
            if convert_to not in ("raw_bytes", "base64", "base64_data_url"):
                raise ValueError(f"convert_to {convert_to!r} is not raw_bytes, base64 or base64_data_url")
            values = []
            for path in table.column(column).to_pylist():
                file = self.stages.folder(path)
                if not file.is_file():
                    raise ValueError(f"stage file {path} does not exist")
                data = file.read_bytes()
                if convert_to == "raw_bytes":
                    values.append(data)
                    continue
                text = base64.b64encode(data).decode("ascii")
                if convert_to == "base64_data_url":
                    mime = mimetypes.guess_type(path)[0] or "application/octet-stream"
                    text = f"data:{mime};base64,{text}"
                values.append(text)
            kind = pa.binary() if convert_to == "raw_bytes" else pa.string()
            table = table.set_column(table.column_names.index(column), column, pa.array(values, kind))
        target.mkdir()
        pq.write_table(table, target / "data_0.parquet")

    # -- look-ups ----------------------------------------------------------------------------------

    @staticmethod
    def _name(token: str, params: list[Any]) -> Name:
        if token.upper().startswith("IDENTIFIER("):
            if not params:
                raise SqlError(1003, "IDENTIFIER(?) without a bound value.")
            token = str(params[0])
        try:
            return Name.parse(token)
        except SqlError as exc:
            raise SqlError(2003, f"Service '{token}' does not exist or not authorized.") from exc

    def _service(self, name: Name) -> _Service:
        with self._lock:
            service = self._live.get(name.sql)
        if service is None:
            raise SqlError(2003, f"Service '{name.sql}' does not exist or not authorized.", "42S02")
        return service

    def _show(self, like: str | None, schema: str | None) -> Answer:
        with self._lock:
            services = list(self._live.values())
        wanted = Name.parse(f"{schema}.X") if schema is not None else None
        rows = [
            s.row(self.now())
            for s in services
            if (like is None or like == s.name.name)
            and (
                wanted is None
                or (wanted.database or s.name.database, wanted.schema) == (s.name.database, s.name.schema)
            )
        ]
        return _rows(rows)

    def _job_history(self, text: str, params: list[Any]) -> Answer:
        with self._lock:
            services = list(self._history)
        wanted = [str(p) for p in params]
        rows = []
        for s in services:
            values = [s.name.database or "", s.name.schema or "", s.name.name]
            if wanted and values[-len(wanted) :] != wanted[-3:]:
                continue
            rows.append(
                {
                    "DATABASE_NAME": values[0],
                    "SCHEMA_NAME": values[1],
                    "NAME": values[2],
                    "STATUS": s.status(self.now()),
                    "COMPUTE_POOL_NAME": s.compute_pool,
                    "CREATED_TIME": _ltz(s.created.timestamp()),
                    "COMPLETED_TIME": s.completed_on(),
                    "PARAMETERS": json.dumps({"REPLICAS": s.replicas}),
                }
            )
        if re.search(r"ORDER\s+BY\s+\S+\s+DESC", text, re.I):
            rows.reverse()
        if limit := re.search(r"LIMIT\s+(\d+)", text, re.I):
            rows = rows[: int(limit.group(1))]
        columns = [
            "DATABASE_NAME",
            "SCHEMA_NAME",
            "NAME",
            "STATUS",
            "COMPUTE_POOL_NAME",
            "CREATED_TIME",
            "COMPLETED_TIME",
            "PARAMETERS",
        ]
        return Answer(
            pa.table(
                {
                    c: pa.array([None if r[c] is None else str(r[c]) for r in rows], pa.string())
                    for c in columns
                }
            )
        )

    def _pools(self, like: str) -> Answer:
        # SHOW ... LIKE matches case-insensitively (https://docs.snowflake.com/en/sql-reference/sql/show-compute-pools).
        rows = [
            {"name": name, "state": "ACTIVE", "instance_family": family}
            for name, family in self.compute_pools.items()
            if name.upper() == like.upper()
        ]
        return Answer(
            pa.table(
                {c: pa.array([r[c] for r in rows], pa.string()) for c in ("name", "state", "instance_family")}
            )
        )

    def _drop(self, name: Name, *, if_exists: bool) -> Answer:
        with self._lock:
            service = self._live.pop(name.sql, None)
        if service is None:
            if if_exists:
                return status_answer("Drop statement executed successfully (service does not exist).")
            raise SqlError(2003, f"Service '{name.sql}' does not exist or not authorized.", "42S02")
        local_jobs.cancel(name.sql, service.job_dir, self.layout)
        service.dropped = True
        return status_answer(f"{name.name} successfully dropped.")

    def stop_all(self) -> None:
        """Stop every job process still running (fixture teardown)."""
        with self._lock:
            services = list(self._history)
        for service in services:
            local_jobs.cancel(service.name.sql, service.job_dir, self.layout)


def _ltz(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(sep=" ")


# SHOW/DESCRIBE SERVICE column types as Snowflake returns them: instance counts are numbers and
# created_on a TIMESTAMP_LTZ (a client reads a datetime), the rest text.
_TYPES = {
    "target_instances": pa.int64(),
    "min_instances": pa.int64(),
    "max_instances": pa.int64(),
    "created_on": _TIMESTAMP,
}


def _rows(rows: list[dict[str, Any]]) -> Answer:
    return Answer(
        pa.table({c: pa.array([r.get(c) for r in rows], _TYPES.get(c, pa.string())) for c in _COLUMNS})
    )
