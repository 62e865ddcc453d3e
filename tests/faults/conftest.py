"""The fault suite's one Airflow: started once per session, shared by every scenario.

Each scenario drives its own DAG runs (one per repetition, run side by side) through the REST API,
injects its fault, then checks the outcome from the workspace itself: the jobs each task ran (their
status files), and the rows of each day's partition against the inputs and the model.

``FAULTS_REPETITIONS`` (default 1) sets the runs per scenario; ``FAULTS_FULL=1`` adds the long
scenarios. CI (scripts/test.sh) runs the short ones once; docs/reliability.rst gives the full command.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psutil
import pytest
from e2e.airflow_cluster import AirflowCluster
from e2e.repo import script_module
from e2e.score_checks import score_problems

demo_data = script_module("demo_data")

REPETITIONS = int(os.environ.get("FAULTS_REPETITIONS", "1"))
FULL = os.environ.get("FAULTS_FULL", "") == "1"
# Days seeded with features: each run of a DAG scores its own day (a DAG's logical dates never repeat).
SEEDED_DAYS = [(date(2024, 1, 1) + timedelta(days=d)).isoformat() for d in range(60)]
ROWS_PER_DAY = [3 + d % 5 for d in range(60)]
TERMINAL_RUN_STATES = {"success", "failed"}
# Every scenario's runs, and what was lost, for the summary printed at the end (docs/reliability.rst).
RESULTS: list[dict[str, Any]] = []


def long_scenario(test: Callable[..., Any]) -> Callable[..., Any]:
    """A scenario run only by the full suite (FAULTS_FULL=1)."""
    return pytest.mark.skipif(not FULL, reason="long fault scenario: set FAULTS_FULL=1")(test)


@dataclass
class Job:
    name: str
    status: str
    message: str


@dataclass
class Faults:
    """The running Airflow, its workspace, and helpers to drive runs and inject faults."""

    cluster: AirflowCluster
    workspace: Any
    features: Any
    model: Any
    markers: Path
    counter: dict[str, int] = field(default_factory=dict)

    # -- runs ----------------------------------------------------------------------------------

    def trigger(self, dag_id: str, days: list[str], label: str) -> list[str]:
        """Start one run per day; the run ids carry ``label`` so scenarios on one DAG never mix."""
        run_ids = []
        for day in days:
            run_id = f"{label}__{day}"
            status, body = self.cluster.api(
                "POST",
                f"/api/v2/dags/{dag_id}/dagRuns",
                {"dag_run_id": run_id, "logical_date": f"{day}T00:00:00Z"},
            )
            assert status == 200, f"Triggering {dag_id} {run_id} failed: HTTP {status} {body}"
            run_ids.append(run_id)
        return run_ids

    def days(self, dag_id: str, count: int = REPETITIONS) -> list[str]:
        """Fresh days for a scenario on ``dag_id`` (a DAG's logical dates must not repeat)."""
        start = self.counter.get(dag_id, 0)
        if start + count > len(SEEDED_DAYS):
            raise RuntimeError(f"Only {len(SEEDED_DAYS)} seeded days: lower FAULTS_REPETITIONS.")
        self.counter[dag_id] = start + count
        return SEEDED_DAYS[start : start + count]

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self.cluster.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}")[1] or {}

    def ti(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}"
        return self.cluster.api("GET", path)[1] or {}

    def wait_runs(self, dag_id: str, run_ids: list[str], timeout: float = 600) -> dict[str, str]:
        def done() -> dict[str, str] | None:
            states = {r: self.run(dag_id, r).get("state") for r in run_ids}
            return states if set(states.values()) <= TERMINAL_RUN_STATES else None

        return self.cluster.until(done, timeout, what=f"runs {run_ids} of {dag_id} to end")

    def wait_ti(self, dag_id: str, run_id: str, task_id: str, states: set[str], timeout: float = 300) -> None:
        self.cluster.until(
            lambda: self.ti(dag_id, run_id, task_id).get("state") in states,
            timeout,
            what=f"{dag_id} {run_id} {task_id} in {states}",
        )

    def wait_trigger_started(self, dag_id: str, run_id: str, task_id: str, timeout: float = 120) -> None:
        """Wait until a triggerer runs the deferred try's trigger (its trigger log says so).

        Airflow calls a trigger's ``on_kill`` only for a trigger that a triggerer runs: a task marked
        or cleared between its deferral and the triggerer's pick-up (a second or two; longer on a
        busy machine) keeps its job running (docs/reliability.rst), so a scenario about ``on_kill``
        waits for this first.
        """
        try_number = self.ti(dag_id, run_id, task_id)["try_number"]
        self.cluster.until(
            lambda: any(
                '"event":"trigger ' in text and ' starting"' in text
                for text in self.trigger_logs(dag_id, run_id, task_id, try_number).values()
            ),
            timeout,
            what=f"the trigger of {dag_id} {run_id} {task_id} try {try_number} to start",
        )

    def trigger_logs(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> dict[str, str]:
        """A try's trigger logs by triggerer (``attempt=N.log.trigger.<triggerer job id>.log``)."""
        folder = self.cluster.logs_folder / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        return {
            p.name.rsplit(".", 2)[-2]: p.read_text(errors="replace")
            for p in folder.glob(f"attempt={try_number}.log.trigger.*.log")
        }

    def set_state(self, dag_id: str, run_id: str, task_id: str, state: str) -> None:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}"
        status, body = self.cluster.api("PATCH", path, {"new_state": state})
        assert status == 200, f"Marking {task_id} of {run_id} {state} failed: HTTP {status} {body}"

    def clear(self, dag_id: str, run_id: str, task_ids: list[str]) -> None:
        status, body = self.cluster.api(
            "POST",
            f"/api/v2/dags/{dag_id}/clearTaskInstances",
            {"dry_run": False, "dag_run_id": run_id, "task_ids": task_ids, "only_failed": False},
        )
        assert status == 200, f"Clearing {task_ids} of {run_id} failed: HTTP {status} {body}"

    @contextlib.contextmanager
    def triggerer_stopped(self) -> Iterator[None]:
        """Freeze the triggerer (SIGSTOP to its process group) for the block: a slow triggerer."""
        group = self.cluster.procs["triggerer"].pid
        os.killpg(group, signal.SIGSTOP)
        try:
            yield
        finally:
            os.killpg(group, signal.SIGCONT)

    # -- jobs and processes --------------------------------------------------------------------

    def jobs(self, dag_id: str, run_id: str, task_id: str = "score") -> list[Job]:
        """Every job the task instance ran (all tries), from the workspace's job records."""
        from airflow_snowflake_batch.identifiers import default_job_name

        base = default_job_name(dag_id, task_id, run_id).value
        found = []
        folder = self.workspace.root / "jobs" / "ML" / "PUBLIC"
        for job_dir in sorted(folder.glob(f"{base}*")):
            status = job_dir / "status.json"
            record = json.loads(status.read_text()) if status.is_file() else {"status": "-", "message": ""}
            found.append(Job(job_dir.name, record["status"], record["message"]))
        return found

    def job_state(self, dag_id: str, run_id: str) -> str | None:
        """The newest job's status as the hook reads it (a dead process counts), or None."""
        from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook

        jobs = self.jobs(dag_id, run_id)
        if not jobs or jobs[-1].status == "-":
            return None
        with SnowflakeBatchInferenceHook("faults") as hook:
            state = hook.find_job(f"ML.PUBLIC.{jobs[-1].name}")
        return None if state is None else state.status.value

    def wait_job(self, dag_id: str, run_id: str, states: set[str], timeout: float = 300) -> None:
        self.cluster.until(
            lambda: self.job_state(dag_id, run_id) in states, timeout, what=f"job of {run_id} in {states}"
        )

    def process(self, dag_id: str, run_id: str, task_id: str) -> dict[str, int] | None:
        """The pid and supervisor pid of the task's newest try that has started (None before)."""
        records = sorted(
            (self.markers / dag_id / run_id).glob(f"{task_id}.*.json"),
            key=lambda p: int(p.name.split(".")[-2]),
        )
        return json.loads(records[-1].read_text()) if records else None

    def wait_process(self, dag_id: str, run_id: str, task_id: str) -> dict[str, int]:
        return self.cluster.until(
            lambda: self.process(dag_id, run_id, task_id), 300, what=f"{task_id} of {run_id} to start"
        )

    # -- outcome -------------------------------------------------------------------------------

    def table(self, dag_id: str) -> Any:
        name = f"ML.PUBLIC.SCORES_{dag_id.upper()}"
        return self.workspace.read_table(name) if self.workspace.table_exists(name) else None

    def partition_problems(self, dag_id: str, days: list[str]) -> list[str]:
        """What is wrong with ``days`` of the DAG's table (each day once, right scores)."""
        table = self.table(dag_id)
        if table is None:
            return [f"table of {dag_id} was never created"]
        day_of = demo_data_day(table)
        return score_problems(
            table[day_of.isin(days)],
            self.features,
            self.model,
            days=days,
            feature_columns=demo_data.FEATURE_COLUMNS,
        )

    def rows_of(self, dag_id: str, days: list[str]) -> int:
        table = self.table(dag_id)
        return 0 if table is None else int(demo_data_day(table).isin(days).sum())

    def task_log(self, dag_id: str, run_id: str, task_id: str) -> str:
        folder = self.cluster.logs_folder / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        return "\n".join(p.read_text(errors="replace") for p in sorted(folder.glob("attempt=*.log")))

    def record(self, scenario: str, runs: int, outcome: str, lost: str = "nothing") -> None:
        RESULTS.append({"scenario": scenario, "runs": runs, "outcome": outcome, "lost": lost})


def demo_data_day(table: Any) -> Any:
    import pandas as pd

    column = next(c for c in table.columns if c.upper() == "SCORE_DATE")
    return pd.to_datetime(table[column]).dt.strftime("%Y-%m-%d")


def kill(pid: int) -> bool:
    """SIGKILL one process; whether it was still there."""
    try:
        os.kill(pid, signal.SIGKILL)
        return True
    except ProcessLookupError:
        return False


def describe(process: psutil.Process) -> str:
    try:
        return f"{process.pid} {' '.join(process.cmdline())[:120]}"
    except psutil.Error:
        return f"{process.pid} (ended)"


@pytest.fixture(scope="session")
def faults(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Faults]:
    from airflow_snowflake_batch.local import LocalWorkspace

    base = tmp_path_factory.mktemp("faults")
    workspace = LocalWorkspace(base / "workspace")
    features = demo_data.customer_features(SEEDED_DAYS, ROWS_PER_DAY)
    model = demo_data.train_churn_model()
    demo_data.seed_workspace(workspace, features, model)
    markers = base / "markers"
    markers.mkdir()
    os.environ["AIRFLOW_CONN_FAULTS"] = workspace.connection_uri()  # for the test's own hook
    cluster = AirflowCluster(
        base / "airflow",
        extra_env={
            "AIRFLOW_CONN_SNOWFLAKE_DEFAULT": workspace.connection_uri(),
            "FAULTS_MARKERS": str(markers),
            # A task whose supervisor died is failed (then retried) after this many seconds.
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
            # A triggerer silent this long loses its triggers to another one (HA).
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "20",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        },
    )
    shutil.copy(Path(__file__).with_name("fault_dags.py"), cluster.dags_folder)
    try:
        cluster.start()
        cluster.login()
        for dag_id in ("faults_sync", "faults_deferred", "faults_lock"):
            cluster.wait_for_dag(dag_id)
        yield Faults(cluster, workspace, features, model, markers)
    finally:
        cluster.stop()  # also ends the local jobs: they inherit the cluster's AIRFLOW_HOME
        os.environ.pop("AIRFLOW_CONN_FAULTS", None)
        if RESULTS:
            print("\nFault suite results (docs/reliability.rst):")
            print("| scenario | runs | outcome | lost |\n|---|---|---|---|")
            for r in RESULTS:
                print(f"| {r['scenario']} | {r['runs']} | {r['outcome']} | {r['lost']} |")
    leftover = [describe(p) for p in cluster.processes()]
    assert not leftover, f"processes left after the fault suite: {leftover}"
