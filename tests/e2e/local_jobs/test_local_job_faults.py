"""Faults around local jobs: a cancel racing a status read, a submit killed half-way, a held DuckDB lock."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from local_support import CONN_ID, submit, wait_terminal, wait_until

from airflow_snowflake_batch.backends.local import database as local_database
from airflow_snowflake_batch.backends.local import jobs
from airflow_snowflake_batch.backends.local.job_runner import DELAY_ENV
from airflow_snowflake_batch.hooks.batch_inference import JobStart, SnowflakeBatchInferenceHook
from airflow_snowflake_batch.identifiers import Identifier
from airflow_snowflake_batch.job_status import BatchJobStatus
from airflow_snowflake_batch.local import LocalWorkspace


def running_job(hook: SnowflakeBatchInferenceHook, monkeypatch: pytest.MonkeyPatch, name: str) -> JobStart:
    """A job held RUNNING for a minute."""
    monkeypatch.setenv(DELAY_ENV, "60")
    start = submit(hook, name)
    wait_until(lambda: hook.get_job_state(start.job_id).status is BatchJobStatus.RUNNING, what="RUNNING")
    return start


def test_a_status_read_between_the_kill_and_the_status_write_sees_a_cancel(
    hook: SnowflakeBatchInferenceHook, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = running_job(hook, monkeypatch, "JOB_RACE")
    seen = []
    wait_procs = jobs.psutil.wait_procs

    def kill_then_read(procs, timeout):  # another process polls right after the SIGKILL
        wait_procs(procs, timeout=timeout)
        seen.append(SnowflakeBatchInferenceHook(CONN_ID).get_job_state(start.job_id))
        return [], []

    monkeypatch.setattr(jobs.psutil, "wait_procs", kill_then_read)
    hook.cancel_job(start.job_id)

    assert [s.status for s in seen] == [BatchJobStatus.CANCELLED]
    assert seen[0].message == jobs.CANCELLED_MESSAGE
    assert hook.get_job_state(start.job_id).status is BatchJobStatus.CANCELLED
    assert "INTERNAL_ERROR" not in hook.get_job_logs(start.job_id)


def test_a_job_whose_cancel_is_requested_reads_cancelling_and_is_not_reattached(
    hook: SnowflakeBatchInferenceHook, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = running_job(hook, monkeypatch, "JOB_CLEARED")
    job_dir = hook.backend._job_dir(first.job_id)
    # The moment a cleared try's on_kill has recorded its cancel and not yet killed the job.
    jobs.write_json_atomic(job_dir / jobs.CANCEL_FILE, {"requested_on": 0, "pid": os.getpid()})
    assert hook.get_job_state(first.job_id).status is BatchJobStatus.CANCELLING

    monkeypatch.delenv(DELAY_ENV)
    second = submit(hook, "JOB_CLEARED", try_number=2)

    assert (second.job_id, second.reattached) == ("ML.PUBLIC.JOB_CLEARED_T2", False)
    assert wait_terminal(hook, second.job_id).status is BatchJobStatus.DONE
    hook.cancel_job(first.job_id)
    assert hook.get_job_state(first.job_id).status is BatchJobStatus.CANCELLED


SUBMITTER = textwrap.dedent(
    f"""
    import time
    from airflow_snowflake_batch.backends.local import database
    from airflow_snowflake_batch.hooks.batch_inference import JobStart, SnowflakeBatchInferenceHook

    export = database.export_parquet

    def stuck(*args, **kwargs):  # the input copy is written; the job record is not
        export(*args, **kwargs)
        print("SUBMITTING", flush=True)
        time.sleep(600)

    database.export_parquet = stuck
    hook = SnowflakeBatchInferenceHook({CONN_ID!r})
    spec = hook.build_batch_job_spec(
        model_name="IRIS", version_name=None, function_name="PREDICT",
        source=hook.input_source(input_table="INPUT"), compute_pool="POOL",
        output_stage_location="@OUT/preds", job_name="JOB_HALF")
    hook.start_batch_job(spec)
    """
)


def test_next_try_removes_what_a_submit_killed_half_way_left(
    hook: SnowflakeBatchInferenceHook, workspace: LocalWorkspace
) -> None:
    submitter = subprocess.Popen(
        [sys.executable, "-c", SUBMITTER], env=dict(os.environ), stdout=subprocess.PIPE, text=True
    )
    try:
        assert any(line.startswith("SUBMITTING") for line in iter(submitter.stdout.readline, ""))
    finally:
        os.kill(submitter.pid, signal.SIGKILL)  # no except, no finally runs in the submitter
        submitter.wait()
    job_dir = hook.backend._job_dir("JOB_HALF")
    scratch = workspace.path_of("@OUT/preds") / "_snowflake_temporary"
    assert job_dir.is_dir() and hook.find_job("JOB_HALF") is None
    assert [p for p in scratch.iterdir()], "the killed submit left its input copy"

    retry = submit(hook, "JOB_HALF", try_number=2)

    assert not job_dir.exists()
    assert wait_terminal(hook, retry.job_id).status is BatchJobStatus.DONE
    assert not [p for p in scratch.iterdir()]  # the retry's own copy goes when its job ends
    assert "_SUCCESS" in workspace.list_files("@OUT/preds/JOB_HALF_T2/")


HOLDER = textwrap.dedent(
    """
    import sys, time, duckdb
    con = duckdb.connect()
    con.execute("ATTACH ? AS ML", [sys.argv[1]])
    print("HELD", flush=True)
    time.sleep(float(sys.argv[2]))
    """
)


def test_waiting_for_a_held_duckdb_file_is_logged(
    workspace: LocalWorkspace, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local_database, "LOCK_WAIT_LOG_SECONDS", 0.5)
    path = Path(workspace.layout.database_file(Identifier("ML")))
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path), "3"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "HELD"
        with (
            caplog.at_level(logging.INFO, logger=local_database.__name__),
            local_database.connect(workspace.layout, Identifier("ML")) as con,
        ):
            assert con.execute("SELECT count(*) FROM ML.PUBLIC.INPUT").fetchone()[0] > 0
    finally:
        holder.kill()
        holder.wait()
    waits = [r for r in caplog.records if "Waiting for a DuckDB file" in r.getMessage()]
    assert waits and waits[0].levelno == logging.WARNING
    assert str(workspace.root) in waits[0].getMessage()
    # Throttled: at most one line per LOCK_WAIT_LOG_SECONDS (0.5 s here) of a wait of about 3 s.
    assert len(waits) <= 10
    assert any("after waiting" in r.getMessage() for r in caplog.records)
