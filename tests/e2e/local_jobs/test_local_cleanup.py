"""The cleanup operator on a local workspace: real jobs (one still running), real folders, aged with utime."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from local_support import CONN_ID, submit, wait_terminal, wait_until

from airflow_snowflake_batch.backends.local.job_runner import DELAY_ENV
from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook
from airflow_snowflake_batch.job_status import BatchJobStatus
from airflow_snowflake_batch.local import LocalWorkspace
from airflow_snowflake_batch.operators.cleanup import SnowflakeBatchInferenceCleanupOperator

DAY = 86_400.0


def age(path: Path, days: float) -> None:
    """Make every file under ``path`` (or the file itself) ``days`` old."""
    stamp = time.time() - days * DAY
    for file in [path, *path.rglob("*")] if path.is_dir() else [path]:
        os.utime(file, (stamp, stamp))


def job_record(workspace: LocalWorkspace, name: str) -> Path:
    return workspace.root / "jobs" / "ML" / "PUBLIC" / name


def test_dry_run_then_real_run_spare_running_and_recent_work(
    hook: SnowflakeBatchInferenceHook, workspace: LocalWorkspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = workspace.path_of("@OUT/preds")
    # Two jobs that finish (one made old below, one recent), and one still running.
    finished = [submit(hook, name).job_id for name in ("AIRFLOW_BATCH_OLD", "AIRFLOW_BATCH_RECENT")]
    monkeypatch.setenv(DELAY_ENV, "120")
    running = submit(hook, "AIRFLOW_BATCH_RUNNING")
    for job_id in finished:
        assert wait_terminal(hook, job_id).status is BatchJobStatus.DONE
    age(job_record(workspace, "AIRFLOW_BATCH_OLD"), 40)
    age(out / "AIRFLOW_BATCH_OLD", 40)
    # The running job was created long ago and has an old file in its folder.
    wait_until(lambda: hook.get_job_state(running.job_id).status is BatchJobStatus.RUNNING, what="RUNNING")
    age(job_record(workspace, "AIRFLOW_BATCH_RUNNING"), 50)
    (out / "AIRFLOW_BATCH_RUNNING").mkdir(parents=True, exist_ok=True)
    (out / "AIRFLOW_BATCH_RUNNING" / "partial.parquet").write_bytes(b"x")
    age(out / "AIRFLOW_BATCH_RUNNING", 45)
    # Leftover input copies: one older than the running job (it may read it), one younger.
    for copy, days in (("older", 55), ("younger", 45)):
        folder = out / "_snowflake_temporary" / copy
        folder.mkdir(parents=True)
        (folder / "data_0.parquet").write_bytes(b"x")
        age(folder, days)
    # Someone else's old folder under the same location.
    (out / "REPORTS").mkdir()
    (out / "REPORTS" / "r.csv").write_text("x")
    age(out / "REPORTS", 90)

    def cleanup(dry_run: bool) -> dict[str, object]:
        op = SnowflakeBatchInferenceCleanupOperator(
            task_id="cleanup",
            snowflake_conn_id=CONN_ID,
            output_stage_location="@OUT/preds",
            older_than_days=30,
            dry_run=dry_run,
        )
        return op.execute({})

    expected = {
        "dropped_jobs": ["ML.PUBLIC.AIRFLOW_BATCH_OLD"],
        "removed_folders": [
            "@ML.PUBLIC.OUT/preds/AIRFLOW_BATCH_OLD/",
            "@ML.PUBLIC.OUT/preds/_snowflake_temporary/younger/",
        ],
        "kept_running_jobs": ["ML.PUBLIC.AIRFLOW_BATCH_RUNNING"],
    }
    before = sorted(workspace.list_files("@OUT"))
    assert cleanup(dry_run=True) == {"dry_run": True, **expected}
    assert sorted(workspace.list_files("@OUT")) == before
    assert hook.find_job("ML.PUBLIC.AIRFLOW_BATCH_OLD") is not None

    assert cleanup(dry_run=False) == {"dry_run": False, **expected}
    assert hook.find_job("ML.PUBLIC.AIRFLOW_BATCH_OLD") is None
    assert hook.find_job("ML.PUBLIC.AIRFLOW_BATCH_RECENT") is not None
    assert hook.get_job_state(running.job_id).status is BatchJobStatus.RUNNING
    folders = {
        "/".join(f.split("/")[:2]) if f.startswith("_snowflake_temporary/") else f.split("/")[0]
        for f in hook.list_files("@OUT/preds")
    }
    kept = {"AIRFLOW_BATCH_RECENT", "AIRFLOW_BATCH_RUNNING", "REPORTS", "_snowflake_temporary/older"}
    assert kept <= folders
    assert not {"AIRFLOW_BATCH_OLD", "_snowflake_temporary/younger"} & folders
    assert not (out / "_snowflake_temporary" / "younger").exists()
    # A second run finds nothing more to do.
    assert cleanup(dry_run=False)["dropped_jobs"] == []
    hook.cancel_job(running.job_id)
