"""A three-day backfill of ``dags_examples/backfill_scoring.py`` on a real Airflow, on a local workspace.

Airflow's scheduler, triggerer, dag-processor and API server run as separate processes (LocalExecutor,
SQLite, loopback only). The backfill is created through the REST API as the UI does; the results are
then checked day by day against the inputs and the model, and the batch job tasks must have deferred.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd
import psutil
import pytest

from .airflow_cluster import AirflowCluster
from .repo import EXAMPLE_DAGS, script_module
from .score_checks import score_problems

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

demo_data = script_module("demo_data")

DAG_ID = "backfill_scoring"
BATCH_TASK = "score_in_batch"
DAYS = ["2024-01-01", "2024-01-02", "2024-01-03"]
# Different counts per day, and a fourth day that is not backfilled and must stay unscored.
SEEDED_DAYS, ROWS_PER_DAY = [*DAYS, "2024-01-04"], [4, 6, 5, 3]
# Local jobs stay RUNNING this long, so the batch task surely finds its job unfinished and defers;
# still under the example DAG's poll_interval (15 s), so it costs no extra poll.
JOB_DELAY_SECONDS = "10"
TABLES = ("ML.PUBLIC.DAILY_SCORES_WAREHOUSE", "ML.PUBLIC.DAILY_SCORES_BATCH")


@dataclass
class Backfill:
    """What the backfill left behind, collected before Airflow was stopped."""

    runs: list[dict[str, Any]]
    task_instances: list[dict[str, Any]]
    states_seen: dict[str, set[str]]  # task_id -> every state polled while the runs were going
    task_logs: dict[tuple[str, str], str]  # (run_id, task_id) -> the worker's log, all tries
    trigger_logs: dict[tuple[str, str], str]  # (run_id, task_id) -> the triggerer's log of its triggers
    batch_job_ids: dict[str, Any]  # run_id -> the job id the batch task returned (XCom "job_id")
    tables: dict[str, pd.DataFrame]
    features: pd.DataFrame
    model: Any
    leftover: list[str] = field(default_factory=list)  # processes still alive after the teardown
    triggerer_problems: list[str] = field(default_factory=list)  # crash lines, or the triggerer gone


def _job_processes(workspace_root: Path) -> list[psutil.Process]:
    """Local batch job processes still alive (they run detached from the Airflow task that started them)."""
    alive = []
    for record_file in workspace_root.glob("jobs/*/*/*/process.json"):
        record = json.loads(record_file.read_text())
        try:
            process = psutil.Process(record["pid"])
            if record["create_time"] and abs(process.create_time() - record["create_time"]) < 0.01:
                alive.append(process)
        except psutil.NoSuchProcess:
            pass
    return alive


def _kill_job_processes(workspace_root: Path) -> None:
    """A job process leads its own process group (with its workers): end the whole group."""
    for process in _job_processes(workspace_root):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def backfill(tmp_path_factory: pytest.TempPathFactory) -> Backfill:
    base = tmp_path_factory.mktemp("e2e")
    from airflow_snowflake_batch.local import LocalWorkspace

    workspace = LocalWorkspace(base / "workspace")
    features = demo_data.customer_features(SEEDED_DAYS, ROWS_PER_DAY)
    model = demo_data.train_churn_model()
    demo_data.seed_workspace(workspace, features, model)

    cluster = AirflowCluster(
        base / "airflow",
        extra_env={
            "AIRFLOW_CONN_SNOWFLAKE_DEFAULT": workspace.connection_uri(),
            "AIRFLOW_SNOWFLAKE_BATCH_LOCAL_JOB_DELAY": JOB_DELAY_SECONDS,
        },
    )
    shutil.copy(EXAMPLE_DAGS / f"{DAG_ID}.py", cluster.dags_folder)
    started: dict[int, psutil.Process] = {}
    triggerer_problems: list[str] = []
    try:
        cluster.start()
        cluster.login()
        cluster.wait_for_dag(DAG_ID)
        status, body = cluster.api(
            "POST",
            "/api/v2/backfills",
            {
                "dag_id": DAG_ID,
                "from_date": f"{DAYS[0]}T00:00:00Z",
                "to_date": f"{DAYS[-1]}T00:00:00Z",
                "max_active_runs": 3,
                "reprocess_behavior": "none",
            },
        )
        assert status == 200, f"Creating the backfill failed: HTTP {status} {body}"
        # A paused DAG's backfill runs stay queued.
        status, body = cluster.api("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False})
        assert status == 200, f"Unpausing {DAG_ID} failed: HTTP {status} {body}"

        states_seen: dict[str, set[str]] = {}

        def finished() -> list[dict[str, Any]] | None:
            _, tis = cluster.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/~/taskInstances?limit=100")
            for ti in (tis or {}).get("task_instances", []):
                states_seen.setdefault(ti["task_id"], set()).add(str(ti["state"]))
            started.update((p.pid, p) for p in cluster.component_processes())
            _, runs = cluster.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns?run_type=backfill")
            runs = (runs or {}).get("dag_runs", [])
            done = len(runs) == len(DAYS) and all(r["state"] in ("success", "failed") for r in runs)
            return runs if done else None

        runs = cluster.until(finished, 480, what=f"{len(DAYS)} backfill runs of {DAG_ID} to finish")
        _, tis = cluster.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/~/taskInstances?limit=100")
        task_instances = tis["task_instances"]
        batch_job_ids = {
            r["dag_run_id"]: cluster.api(
                "GET",
                f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(r['dag_run_id'], safe='')}/taskInstances/{BATCH_TASK}"
                "/xcomEntries/job_id",
            )[1]
            for r in runs
        }
        started.update((p.pid, p) for p in cluster.component_processes())
        triggerer_problems = cluster.triggerer_problems()  # before stop(), which ends the triggerer
    finally:
        cluster.stop()
        _kill_job_processes(workspace.root)

    def logs(ti: dict[str, Any], *, trigger: bool) -> str:
        # <logs>/dag_id=D/run_id=R/task_id=T/attempt=N.log, and attempt=N.log.trigger.<id>.log per deferral
        folder = (
            cluster.logs_folder
            / f"dag_id={DAG_ID}"
            / f"run_id={ti['dag_run_id']}"
            / f"task_id={ti['task_id']}"
        )
        files = [p for p in sorted(folder.glob("attempt=*.log")) if (".log.trigger." in p.name) == trigger]
        return "\n".join(p.read_text(errors="replace") for p in files)

    keys = [(ti["dag_run_id"], ti["task_id"]) for ti in task_instances]
    return Backfill(
        runs=runs,
        task_instances=task_instances,
        states_seen=states_seen,
        task_logs={k: logs(ti, trigger=False) for k, ti in zip(keys, task_instances, strict=True)},
        trigger_logs={k: logs(ti, trigger=True) for k, ti in zip(keys, task_instances, strict=True)},
        batch_job_ids={run: (entry or {}).get("value") for run, entry in batch_job_ids.items()},
        tables={t: workspace.read_table(t) for t in TABLES if workspace.table_exists(t)},
        features=features,
        model=model,
        # is_running() compares start times too, so a reused pid does not count.
        leftover=[_describe(p) for p in [*started.values(), *_job_processes(workspace.root)] if _alive(p)],
        triggerer_problems=triggerer_problems,
    )


def _alive(process: psutil.Process) -> bool:
    """Still running: a zombie has exited (its parent has not reaped it yet), so it does not count."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _describe(process: psutil.Process) -> str:
    try:
        return f"{process.pid} {' '.join(process.cmdline())[:200]}"
    except psutil.Error:
        return str(process.pid)


def _failure_report(backfill: Backfill) -> str:
    lines = [
        f"{ti['dag_run_id']} {ti['task_id']}: {ti['state']} (try {ti['try_number']})"
        for ti in backfill.task_instances
    ]
    for (run_id, task_id), text in backfill.task_logs.items():
        if "ERROR" in text or "Traceback" in text:
            lines.append(f"--- log of {run_id} {task_id} (end) ---\n" + "\n".join(text.splitlines()[-30:]))
    return "\n".join(lines)


def test_backfill_runs_one_successful_run_per_day(backfill: Backfill) -> None:
    days = sorted(r["logical_date"][:10] for r in backfill.runs)
    assert days == DAYS
    assert {r["state"] for r in backfill.runs} == {"success"}, _failure_report(backfill)
    assert {ti["state"] for ti in backfill.task_instances} == {"success"}, _failure_report(backfill)


@pytest.mark.parametrize("table", TABLES)
def test_one_correct_partition_per_day(backfill: Backfill, table: str) -> None:
    assert table in backfill.tables, f"{table} was not created; {_failure_report(backfill)}"
    problems = score_problems(
        backfill.tables[table],
        backfill.features,
        backfill.model,
        days=DAYS,
        feature_columns=demo_data.FEATURE_COLUMNS,
    )
    assert problems == []


def test_batch_jobs_deferred_to_the_triggerer(backfill: Backfill) -> None:
    """Each batch task deferred, and the triggerer (not the worker) saw its job succeed."""
    batch_runs = sorted(run for run, task in backfill.task_logs if task == BATCH_TASK)
    assert len(batch_runs) == len(DAYS)
    for run_id in batch_runs:
        task_log, trigger_log = (
            backfill.task_logs[run_id, BATCH_TASK],
            backfill.trigger_logs[run_id, BATCH_TASK],
        )
        assert "Pausing task as DEFERRED" in task_log, f"{BATCH_TASK} of {run_id} never deferred:\n{task_log}"
        job_id = backfill.batch_job_ids[run_id]
        assert job_id, f"{BATCH_TASK} of {run_id} pushed no job_id"
        fired = [json.loads(line) for line in trigger_log.splitlines() if '"Trigger fired event"' in line]
        assert fired, f"no trigger fired for {BATCH_TASK} of {run_id}; trigger log:\n{trigger_log}"
        assert (
            "'outcome': 'success'" in fired[-1]["result"] and f"'job_id': '{job_id}'" in fired[-1]["result"]
        )
    # Informational: polling may or may not catch the short-lived state.
    print(f"task instance states seen while polling: {backfill.states_seen}")


def test_triggerer_survived_the_backfill(backfill: Backfill) -> None:
    """The triggerer that ran the batch triggers is alive at the end, and its log shows no crash of
    its trigger runner: on Airflow 3.1 and 3.2.1 a trigger calling the Airflow SDK from a worker
    thread killed it within a second of the first status poll (apache/airflow#64620)."""
    assert backfill.triggerer_problems == []


def test_every_started_process_is_gone(backfill: Backfill) -> None:
    assert backfill.leftover == []
