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
  name; ``ORDER BY ... DESC`` reverses it. :attr:`JobService.history_error` makes it fail, as it does
  for a role without the privilege;
  Its ``CREATED_TIME`` is the submit time and ``COMPLETED_TIME`` the time the job's status became
  terminal (NULL before), as TIMESTAMP_LTZ text;
- ``SHOW COMPUTE POOLS LIKE '<pool>'``: ``name``, ``state``, ``instance_family`` of the pools in
  :attr:`JobService.compute_pools` (a pool the account lacks gives no row, as Snowflake's ``LIKE`` does);
- ``SYSTEM$GET_SERVICE_LOGS(?, ?, ?[, ?])``: the job log;
- ``CALL <job>!spcs_cancel_job()``: cancels (error 2003 for a dropped service);
- ``DROP SERVICE [IF EXISTS] <name> | IDENTIFIER(?)``: cancels a running job, forgets the service.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml

from airflow_snowflake_batch.backends.local import jobs as local_jobs
from airflow_snowflake_batch.backends.local.layout import Layout, write_json_atomic
from airflow_snowflake_batch.identifiers import Identifier, ObjectName
from airflow_snowflake_batch.job_status import BatchJobStatus
from emulator.models import ModelStore
from emulator.server import Answer, Query, Rewrite, SqlError, status_answer
from emulator.stages import StageFiles

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
    name: ObjectName
    compute_pool: str
    job_dir: Path
    replicas: int
    created: int
    dropped: bool = False
    submitted_on: float = field(default_factory=time.time)

    def status(self) -> str:
        state = local_jobs.state(self.name.sql, self.job_dir)
        return state.status.value if state is not None else BatchJobStatus.INTERNAL_ERROR.value

    def completed_on(self) -> str | None:
        """When the job's status became terminal (its status file's last write), as TIMESTAMP_LTZ text."""
        state = local_jobs.state(self.name.sql, self.job_dir)
        if state is None or not state.status.is_terminal:
            return None
        return _ltz(local_jobs.read_status(self.job_dir)["updated_on"])

    def row(self) -> dict[str, Any]:
        return {
            "name": self.name.name.value,
            "status": self.status(),
            "database_name": self.name.database.value if self.name.database else None,
            "schema_name": self.name.schema.value if self.name.schema else None,
            "compute_pool": self.compute_pool,
            "spec": yaml.safe_dump(
                {"spec": {"containers": [{"name": "main", "image": "emulated", "env": {}}]}}
            ),
            "target_instances": str(self.replicas),
            "min_instances": str(self.replicas),
            "max_instances": str(self.replicas),
            "created_on": str(self.created),
        }


class JobService:
    """The job services of the account: live ones by name, and every one ever submitted (the history)."""

    def __init__(self, layout: Layout, stages: StageFiles, models: ModelStore) -> None:
        self.layout = layout
        self.stages = stages
        self.models = models
        self.history_error: SqlError | None = None
        #: The account's compute pools and their instance family (CREATE COMPUTE POOL's INSTANCE_FAMILY).
        self.compute_pools: dict[str, str] = {"POOL": "CPU_X64_S"}
        self._live: dict[str, _Service] = {}
        self._history: list[_Service] = []
        self._lock = threading.Lock()

    def handle(self, query: Query) -> Answer | Rewrite | None:
        text, params = query.text, list(query.params or ())
        if _EXECUTE.match(text):
            if query.describe_only:
                return status_answer("")
            return self._execute(text)
        if match := _DESCRIBE.match(text):
            return _rows([self._service(self._name(match["name"], params)).row()])
        if match := _SHOW.match(text):
            return self._show(match["like"], match["schema"])
        if match := _POOLS.match(text):
            return self._pools(match["like"])
        if _HISTORY.search(text):
            return self._job_history(text, params)
        if _LOGS.search(text):
            service = self._service(ObjectName.parse(str(params[0])))
            lines = local_jobs.logs(service.job_dir).splitlines()
            limit = int(params[3]) if len(params) > 3 else 0
            return Answer(
                pa.table({"SYSTEM$GET_SERVICE_LOGS": ["\n".join(lines[-limit:] if limit else lines)]})
            )
        if match := _CANCEL.match(text):
            service = self._service(ObjectName.parse(match["name"]))
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
        model = ObjectName.parse(found["model"])
        name = (
            ObjectName.parse(found["name"])
            if found["name"]
            else ObjectName(
                name=Identifier(f"BATCH_INFERENCE_{uuid.uuid4().hex[:12].upper()}"),
                schema=model.schema,
                database=model.database,
            )
        )
        with self._lock:
            if name.sql in self._live:
                raise SqlError(2002, f"Object '{name.sql}' already exists.", "42710")
        version = self.models.resolve(model, found["version"])
        function = self.models.function_entry(model, version, found["function"] or "")
        output = spec["output"]["stage_location"].rstrip("/") + "/" + name.name.value + "/"
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
        inference = spec.get("inference") or {}
        replicas = int(found["replicas"] or 1)
        write_json_atomic(
            job_dir / local_jobs.JOB_FILE,
            {
                "job_id": name.sql,
                "workspace": str(self.layout.root),
                "database": name.database.value if name.database else None,
                "schema": name.schema.value if name.schema else None,
                "version_dir": str(self.models.registry.version_dir(model, Identifier(version))),
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
        local_jobs.write_status(job_dir, BatchJobStatus.PENDING, "Submitted.")
        service = _Service(name, found["pool"] or "", job_dir, replicas, len(self._history))
        with self._lock:
            self._live[name.sql] = service
            self._history.append(service)
        local_jobs.start_process(job_dir)
        # A plain SELECT for fakesnow, so an ASYNC submit can fetch its result by query id.
        return Rewrite(f"SELECT 'Batch inference job {name.sql} submitted.' AS \"status\"")

    # -- look-ups ----------------------------------------------------------------------------------

    @staticmethod
    def _name(token: str, params: list[Any]) -> ObjectName:
        if token.upper().startswith("IDENTIFIER("):
            if not params:
                raise SqlError(1003, "IDENTIFIER(?) without a bound value.")
            token = str(params[0])
        try:
            return ObjectName.parse(token)
        except ValueError as exc:
            raise SqlError(2003, f"Service '{token}' does not exist or not authorized.") from exc

    def _service(self, name: ObjectName) -> _Service:
        with self._lock:
            service = self._live.get(name.sql)
        if service is None:
            raise SqlError(2003, f"Service '{name.sql}' does not exist or not authorized.", "42S02")
        return service

    def _show(self, like: str | None, schema: str | None) -> Answer:
        with self._lock:
            services = list(self._live.values())
        rows = [
            s.row()
            for s in services
            if (like is None or like == s.name.name.value)
            and (schema is None or ObjectName.parse(f"{schema}.X").schema == s.name.schema)
        ]
        return _rows(rows)

    def _job_history(self, text: str, params: list[Any]) -> Answer:
        if self.history_error is not None:
            raise self.history_error
        with self._lock:
            services = list(self._history)
        wanted = [str(p) for p in params]
        rows = []
        for s in services:
            values = [
                s.name.database.value if s.name.database else "",
                s.name.schema.value if s.name.schema else "",
                s.name.name.value,
            ]
            if wanted and values[-len(wanted) :] != wanted[-3:]:
                continue
            rows.append(
                {
                    "DATABASE_NAME": values[0],
                    "SCHEMA_NAME": values[1],
                    "NAME": values[2],
                    "STATUS": s.status(),
                    "COMPUTE_POOL_NAME": s.compute_pool,
                    "CREATED_TIME": _ltz(s.submitted_on),
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

    def _drop(self, name: ObjectName, *, if_exists: bool) -> Answer:
        with self._lock:
            service = self._live.pop(name.sql, None)
        if service is None:
            if if_exists:
                return status_answer("Drop statement executed successfully (service does not exist).")
            raise SqlError(2003, f"Service '{name.sql}' does not exist or not authorized.", "42S02")
        local_jobs.cancel(name.sql, service.job_dir, self.layout)
        service.dropped = True
        return status_answer(f"{name.name.value} successfully dropped.")

    def stop_all(self) -> None:
        """Stop every job process still running (fixture teardown)."""
        with self._lock:
            services = list(self._history)
        for service in services:
            local_jobs.cancel(service.name.sql, service.job_dir, self.layout)


def _ltz(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(sep=" ")


def _rows(rows: list[dict[str, Any]]) -> Answer:
    return Answer(pa.table({c: pa.array([r.get(c) for r in rows], pa.string()) for c in _COLUMNS}))
