"""The listener that cancels the job of a deferred batch task a user marks failed or success."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from unittest import mock

import pytest

from airflow_snowflake_batch.job_status import BatchJobStatus, JobState
from airflow_snowflake_batch.plugins import listener
from airflow_snowflake_batch.plugins.listener import TRIGGER_CLASSPATH, Cancellation, cancellation_for

KWARGS = {
    "job_id": "ML.PUBLIC.JOB_1",
    "snowflake_conn_id": "sf",
    "cancel_on_kill": True,
    "hook_params": {"database": "ML", "schema": None, "query_tag": "tag"},
}


def test_a_marked_deferred_batch_task_gets_its_job_cancelled():
    # Airflow 3.3 passes previous_state=None when a user marks a task (API or UI).
    assert cancellation_for(None, 7, TRIGGER_CLASSPATH, KWARGS) == Cancellation(
        job_id="ML.PUBLIC.JOB_1", snowflake_conn_id="sf", hook_params={"database": "ML", "query_tag": "tag"}
    )
    assert cancellation_for("deferred", 7, TRIGGER_CLASSPATH, KWARGS) is not None


@pytest.mark.parametrize(
    ("previous_state", "trigger_id", "classpath", "kwargs"),
    [
        ("running", 7, TRIGGER_CLASSPATH, KWARGS),  # a worker ending its own run: on_kill/result did it
        ("success", 7, TRIGGER_CLASSPATH, KWARGS),
        (None, None, TRIGGER_CLASSPATH, KWARGS),  # not deferred (resumed, or never deferred)
        (None, 7, "airflow.providers.snowflake.triggers.SnowflakeSqlApiTrigger", KWARGS),  # not ours
        (None, 7, None, None),  # the trigger row is gone
        (None, 7, TRIGGER_CLASSPATH, {**KWARGS, "cancel_on_kill": False}),  # the sensor, or opted out
    ],
    ids=["running", "success", "no-trigger", "other-trigger", "trigger-gone", "cancel-off"],
)
def test_everything_else_is_left_alone(previous_state, trigger_id, classpath, kwargs):
    assert cancellation_for(previous_state, trigger_id, classpath, kwargs) is None


def test_the_state_enum_is_read_by_value():
    from airflow.utils.state import TaskInstanceState

    assert cancellation_for(TaskInstanceState.DEFERRED, 1, TRIGGER_CLASSPATH, KWARGS) is not None
    assert cancellation_for(TaskInstanceState.RUNNING, 1, TRIGGER_CLASSPATH, KWARGS) is None


@pytest.mark.parametrize(
    ("status", "cancelled"),
    [
        (BatchJobStatus.RUNNING, True),
        (BatchJobStatus.PENDING, True),
        (BatchJobStatus.DONE, False),
        (None, False),
    ],
)
def test_only_an_active_job_is_cancelled(status, cancelled):
    hook = mock.MagicMock()
    hook.__enter__.return_value = hook
    hook.find_job.return_value = None if status is None else JobState(job_id="ML.PUBLIC.J", status=status)
    with mock.patch(
        "airflow_snowflake_batch.hooks.batch_inference.SnowflakeBatchInferenceHook", return_value=hook
    ) as make:
        outcome = listener.cancel_if_active(Cancellation("ML.PUBLIC.J", "sf", {"database": "ML"}))
    make.assert_called_once_with(snowflake_conn_id="sf", database="ML")
    assert hook.cancel_job.called is cancelled
    assert ("cancelled" in outcome) is cancelled


def _ti() -> SimpleNamespace:
    return SimpleNamespace(dag_id="d", task_id="t", run_id="r", trigger_id=7)


def test_marking_cancels_and_logs(caplog):
    with (
        mock.patch.object(listener, "_trigger_of", return_value=(7, TRIGGER_CLASSPATH, KWARGS)),
        mock.patch.object(listener, "cancel_if_active", return_value="was RUNNING: cancelled") as cancel,
        caplog.at_level(logging.INFO, logger=listener.__name__),
    ):
        listener.on_task_instance_failed(previous_state=None, task_instance=_ti(), error="marked")
    assert cancel.call_args.args[0].job_id == "ML.PUBLIC.JOB_1"
    assert (
        "Batch inference job ML.PUBLIC.JOB_1 of marked task d.t run r was RUNNING: cancelled" in caplog.text
    )


def test_a_failing_cancel_is_logged_never_raised(caplog):
    with (
        mock.patch.object(listener, "_trigger_of", return_value=(7, TRIGGER_CLASSPATH, KWARGS)),
        mock.patch.object(listener, "cancel_if_active", side_effect=RuntimeError("no network")),
        caplog.at_level(logging.INFO, logger=listener.__name__),
    ):
        listener.on_task_instance_success(previous_state=None, task_instance=_ti())
    assert "Could not cancel batch inference job ML.PUBLIC.JOB_1" in caplog.text
    assert "no network" in caplog.text


def test_a_failing_trigger_lookup_is_logged_never_raised(caplog):
    with (
        mock.patch.object(listener, "_trigger_of", side_effect=RuntimeError("db gone")),
        mock.patch.object(listener, "cancel_if_active") as cancel,
    ):
        listener.on_task_instance_failed(previous_state=None, task_instance=_ti(), error=None)
    cancel.assert_not_called()
    assert "db gone" in caplog.text


def test_a_worker_ending_its_run_does_not_touch_the_database():
    # Listeners run in every worker: the common case must exit before any look-up.
    with mock.patch.object(listener, "_trigger_of") as lookup:
        listener.on_task_instance_success(previous_state="running", task_instance=_ti())
    lookup.assert_not_called()


def test_a_slow_cancel_goes_on_in_the_background(caplog, monkeypatch):
    import threading

    release = threading.Event()
    monkeypatch.setattr(listener, "CANCEL_WAIT_SECONDS", 0.1)
    with (
        mock.patch.object(listener, "_trigger_of", return_value=(7, TRIGGER_CLASSPATH, KWARGS)),
        mock.patch.object(listener, "cancel_if_active", side_effect=lambda c: release.wait(5) and "done"),
    ):
        listener.on_task_instance_failed(previous_state=None, task_instance=_ti(), error=None)
    release.set()
    assert "goes on in the background" in caplog.text
