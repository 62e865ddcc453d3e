"""Retries, kills and deadlines against real local batch jobs (detached processes), no mocks of the hook.

Here, not in tests/unit: these tests start job processes.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import numpy as np
import pandas as pd
import pytest
from airflow.providers.common.compat.sdk import TaskDeferred
from sklearn.linear_model import LinearRegression
from unit.operators.operator_support import FakeTaskStateStore, make_context, stored

from airflow_snowflake_batch.backends.local.job_runner import BATCH_DELAY_ENV, DELAY_ENV
from airflow_snowflake_batch.exceptions import BatchJobError
from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook
from airflow_snowflake_batch.job_status import BatchJobStatus, JobState
from airflow_snowflake_batch.operators.batch_job import SnowflakeBatchInferenceOperator, _Job
from airflow_snowflake_batch.triggers.batch_job import SnowflakeBatchInferenceJobTrigger
from airflow_snowflake_batch.triggers.events import BatchJobEvent, BatchJobOutcome

CONN_ID = "local_lifecycle"


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    from airflow_snowflake_batch.local.workspace import LocalWorkspace

    ws = LocalWorkspace(tmp_path / "ws")
    features = pd.DataFrame({"F1": np.arange(30, dtype=float), "F2": np.arange(30, dtype=float) ** 0.5})
    ws.write_table("FEATURES", features)
    ws.create_stage("OUT")
    ws.log_model(
        LinearRegression().fit(features, features.F1 - features.F2),
        model_name="REG",
        version_name="V1",
        sample_input_data=features,
    )
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", ws.connection_uri())
    return ws


def make_op(**kwargs) -> SnowflakeBatchInferenceOperator:
    return SnowflakeBatchInferenceOperator(
        task_id="score",
        model_name="REG",
        input_table="FEATURES",
        compute_pool="LOCAL_POOL",
        output_stage_location="@OUT/preds/",
        snowflake_conn_id=CONN_ID,
        poll_interval=0.5,
        **kwargs,
    )


def wait_until_ended(job_id: str, limit: float = 120.0) -> JobState:
    """Poll the real job until it ends (a generous limit; nothing here asserts on timing)."""
    end = time.monotonic() + limit
    with SnowflakeBatchInferenceHook(CONN_ID) as hook:
        while (state := hook.get_job_state(job_id)).status.is_active and time.monotonic() < end:
            time.sleep(0.2)
    return state


def job_count(ws) -> int:
    return sum(1 for _ in (ws.root / "jobs").glob("*/*/*/job.json"))


def test_retry_reattaches_to_the_job_of_the_first_try(workspace):
    first = make_op(wait_for_completion=False).execute(make_context(try_number=1))

    # A fresh task state store: the hook's look-up by job name alone must find the first job.
    second = make_op(deferrable=False).execute(make_context(try_number=2))

    assert second["job_id"] == first["job_id"] and second["status"] == "DONE"
    assert job_count(workspace) == 1
    assert "_SUCCESS" in workspace.list_files(second["output_location"])


def test_retry_after_a_cancelled_job_submits_a_new_one(workspace):
    store = FakeTaskStateStore()
    first = make_op(deferrable=True, wait_for_completion=False).execute(make_context(1, store))
    with SnowflakeBatchInferenceHook(CONN_ID) as hook:
        hook.cancel_job(first["job_id"])
    assert wait_until_ended(first["job_id"]).status is BatchJobStatus.CANCELLED

    second = make_op(deferrable=False).execute(make_context(2, store))

    assert second["job_id"] == f"{first['job_id']}_T2" and second["status"] == "DONE"
    assert store.values == stored(second["job_id"])
    assert job_count(workspace) == 2


def test_sync_rerun_returns_the_stored_job_only_while_nothing_changed(workspace):
    """Issue 21: deferrable=False with the job id in the task state store (ResumableJobMixin on Airflow
    3.3+) must not return the stored job's old scores once the input changed."""
    store = FakeTaskStateStore()
    first = make_op(deferrable=False).execute(make_context(1, store))

    again = make_op(deferrable=False).execute(make_context(2, store))
    assert (again["job_id"], again["reused"]) == (first["job_id"], True)

    changed = workspace.read_table("FEATURES").assign(F2=lambda f: f.F2 + 1.0)
    workspace.write_table("FEATURES", changed)
    third = make_op(deferrable=False).execute(make_context(3, store))

    assert (third["job_id"], third["reused"], third["status"]) == (f"{first['job_id']}_T3", False, "DONE")
    assert store.values == stored(third["job_id"])
    assert job_count(workspace) == 2


def test_sync_timeout_cancels_the_job(workspace):
    with pytest.raises(BatchJobError, match="timed out"):
        make_op(deferrable=False, timeout=0.01).execute(make_context())

    job_id = f"ML.PUBLIC.{make_op()._job_name(make_context())}"
    assert wait_until_ended(job_id).status is BatchJobStatus.CANCELLED


def test_trigger_on_kill_cancels_a_running_job(workspace):
    job = make_op(wait_for_completion=False).execute(make_context())
    trigger = SnowflakeBatchInferenceJobTrigger(job_id=job["job_id"], snowflake_conn_id=CONN_ID)

    asyncio.run(trigger.on_kill())

    assert wait_until_ended(job["job_id"]).status is BatchJobStatus.CANCELLED


def test_trigger_past_its_deadline_cancels_the_job_and_times_out(workspace):
    job = make_op(wait_for_completion=False).execute(make_context())
    trigger = SnowflakeBatchInferenceJobTrigger(
        job_id=job["job_id"], snowflake_conn_id=CONN_ID, poll_interval=0.5, deadline=time.time()
    )

    async def first_event():
        async for event in trigger.run():
            return BatchJobEvent.from_dict(event.payload)

    event = asyncio.run(first_event())

    assert event.outcome is BatchJobOutcome.TIMEOUT
    assert wait_until_ended(job["job_id"]).status is BatchJobStatus.CANCELLED


def test_trigger_reports_success_of_a_real_job(workspace):
    job = make_op(wait_for_completion=False).execute(make_context())
    trigger = SnowflakeBatchInferenceJobTrigger(
        job_id=job["job_id"], snowflake_conn_id=CONN_ID, poll_interval=0.5
    )

    async def first_event():
        async for event in trigger.run():
            return BatchJobEvent.from_dict(event.payload)

    event = asyncio.run(first_event())

    assert (event.outcome, event.job_id, event.job_status) == (
        BatchJobOutcome.SUCCESS,
        job["job_id"],
        BatchJobStatus.DONE,
    )


def first_event_of(trigger: SnowflakeBatchInferenceJobTrigger) -> dict:
    async def first():
        async for event in trigger.run():
            return event.payload

    return asyncio.run(first())


def test_clearing_a_deferred_task_never_fails_its_new_try(workspace, monkeypatch):
    """Issue 13: the new try re-attaches, then the cleared try's trigger on_kill cancels that job."""
    monkeypatch.setenv(DELAY_ENV, "60")
    with pytest.raises(TaskDeferred) as first:
        make_op(deferrable=True).execute(make_context(1))
    old_trigger = first.value.trigger
    with pytest.raises(TaskDeferred) as second:  # the clear's new try, before the triggerer acts
        make_op(deferrable=True).execute(make_context(2))
    assert second.value.kwargs["reattached"] is True
    assert second.value.trigger.job_id == old_trigger.job_id

    asyncio.run(old_trigger.on_kill())  # the triggerer processes the clear late
    monkeypatch.delenv(DELAY_ENV)
    event = first_event_of(second.value.trigger)
    assert event["job_status"] == "CANCELLED"
    with pytest.raises(TaskDeferred) as resumed:
        make_op(deferrable=True).execute_complete(make_context(2), event=event, **second.value.kwargs)

    own = resumed.value.trigger.job_id
    assert own == f"{old_trigger.job_id}_T2" and resumed.value.kwargs["reattached"] is False
    result = make_op(deferrable=True).execute_complete(
        make_context(2), event=first_event_of(resumed.value.trigger), **resumed.value.kwargs
    )
    assert (result["job_id"], result["status"]) == (own, "DONE")
    assert job_count(workspace) == 2


def test_a_cancelled_job_of_this_try_still_fails_it(workspace):
    with pytest.raises(TaskDeferred) as deferred:
        make_op(deferrable=True).execute(make_context(1))
    event = {"outcome": "cancelled", "job_id": deferred.value.trigger.job_id, "job_status": "CANCELLED"}
    with pytest.raises(BatchJobError, match="ended CANCELLED"):
        make_op(deferrable=True).execute_complete(make_context(1), event=event, **deferred.value.kwargs)
    assert job_count(workspace) == 1


def test_clearing_a_running_sync_task_never_fails_its_new_try(workspace, monkeypatch):
    """The sync new try re-attached (by name or stored id) when the cleared try's on_kill cancels."""
    monkeypatch.setenv(DELAY_ENV, "60")
    store = FakeTaskStateStore()
    cleared = make_op(wait_for_completion=False)
    first = cleared.execute(make_context(1, store))
    monkeypatch.delenv(DELAY_ENV)
    canceller = threading.Timer(3.0, cleared.on_kill)  # the old worker's on_kill, while try 2 polls
    canceller.start()
    try:
        result = make_op(deferrable=False).execute(make_context(2, store))
    finally:
        canceller.join()

    assert (result["job_id"], result["status"]) == (f"{first['job_id']}_T2", "DONE")
    assert wait_until_ended(first["job_id"]).status is BatchJobStatus.CANCELLED
    assert job_count(workspace) == 2


def test_on_kill_is_best_effort(workspace, caplog, capsys):
    """A failing cancel (here: no such job) is logged, never raised, on the worker and the triggerer."""
    message = "Could not cancel batch inference job ML.PUBLIC.NO_SUCH_JOB"
    op = make_op()
    op._job = _Job("ML.PUBLIC.NO_SUCH_JOB", "NO_SUCH_JOB", "@ML.PUBLIC.OUT/preds/NO_SUCH_JOB/")
    op.on_kill()
    trigger = SnowflakeBatchInferenceJobTrigger(job_id="ML.PUBLIC.NO_SUCH_JOB", snowflake_conn_id=CONN_ID)
    asyncio.run(trigger.on_kill())

    captured = capsys.readouterr()
    # The operator logs through Airflow's structlog (stdout), the trigger through logging.
    assert (captured.out + captured.err + caplog.text).count(message) == 2


def test_a_running_job_logs_its_progress_and_reports_its_cost(workspace, monkeypatch, caplog):
    """A sync wait logs rows scored so far while the real job scores (interval shortened from a
    minute), and the finished job's XCom carries the job process's own wall and CPU seconds."""
    monkeypatch.setenv(BATCH_DELAY_ENV, "0.8")  # 3 batches of 10 rows: the job scores for ~2.4 s
    caplog.set_level(logging.INFO)

    result = make_op(deferrable=False, max_batch_rows=10, progress_interval=0.3).execute(make_context())

    lines = [r.getMessage() for r in caplog.records if " rows scored " in r.getMessage()]
    assert lines, caplog.text
    assert all(f"Job {result['job_id']}: " in line and " of 30 rows scored" in line for line in lines)
    cost = result["cost"]
    assert cost["reused"] is False and cost["cpu_seconds"] > 0 and cost["wall_seconds"] >= 2.4


def test_a_deferred_job_logs_its_progress_on_the_triggerer(workspace, monkeypatch, caplog):
    monkeypatch.setenv(BATCH_DELAY_ENV, "0.8")
    caplog.set_level(logging.INFO)
    job = make_op(wait_for_completion=False, max_batch_rows=10).execute(make_context())
    trigger = SnowflakeBatchInferenceJobTrigger(
        job_id=job["job_id"],
        snowflake_conn_id=CONN_ID,
        poll_interval=0.2,
        output_location=job["output_location"],
        progress_interval=0.5,
    )
    # The triggerer's structlog logger is not captured by caplog; what it logs is the same either way.
    trigger._log = logging.getLogger("triggerer_under_test")

    payload = first_event_of(trigger)

    assert payload["outcome"] == "success"
    lines = [r.getMessage() for r in caplog.records if " rows scored " in r.getMessage()]
    assert lines and all(" of 30 rows scored" in line for line in lines), caplog.text
