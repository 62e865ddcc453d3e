from __future__ import annotations

from datetime import datetime, timedelta, timezone
from unittest import mock

import pytest
from airflow.providers.common.compat.sdk import AirflowSensorTimeout, TaskDeferred
from unit.operators.operator_support import make_task_instance

from airflow_snowflake_batch.exceptions import BatchJobError
from airflow_snowflake_batch.job_status import BatchJobStatus, JobState
from airflow_snowflake_batch.sensors.batch_job import SnowflakeBatchInferenceJobSensor
from airflow_snowflake_batch.triggers.batch_job import SnowflakeBatchInferenceJobTrigger

MOD = "airflow_snowflake_batch.sensors.batch_job"
JOB = "ML.PUBLIC.AIRFLOW_BATCH_0123"
NOW = 1_767_225_600.0


@pytest.fixture
def hook_cls():
    with mock.patch(
        "airflow_snowflake_batch.hooks.batch_inference.SnowflakeBatchInferenceHook", autospec=True
    ) as cls:
        yield cls


@pytest.fixture
def hook(hook_cls):
    hook = hook_cls.return_value
    hook.__enter__.return_value = hook
    hook.get_job_logs.return_value = "replica 0: done"
    return hook


@pytest.fixture
def context():
    ti = make_task_instance(
        dag_id="scoring", task_id="wait", run_id="r1", start_date=datetime(2026, 1, 1, tzinfo=timezone.utc)
    )
    return {"ti": ti}


def state(status: str, message: str = "") -> JobState:
    return JobState(JOB, BatchJobStatus(status), message)


def make_sensor(**kwargs) -> SnowflakeBatchInferenceJobSensor:
    return SnowflakeBatchInferenceJobSensor(
        **{
            "task_id": "wait",
            "job_id": JOB,
            "snowflake_conn_id": "sf",
            "poke_interval": 20,
            "timeout": 600,
            **kwargs,
        }
    )


def test_poke_is_false_while_the_job_runs(hook, context):
    hook.get_job_state.return_value = state("RUNNING")
    assert make_sensor().poke(context) is False
    hook.get_job_state.assert_called_once_with(JOB)
    hook.get_job_logs.assert_not_called()


def test_poke_is_true_when_the_job_is_done_and_copies_its_logs(hook, context):
    hook.get_job_state.return_value = state("DONE")
    assert make_sensor().poke(context) is True
    hook.get_job_logs.assert_called_once_with(JOB)


@pytest.mark.parametrize("status", ["FAILED", "CANCELLED", "INTERNAL_ERROR"])
def test_poke_raises_naming_the_job_when_it_did_not_succeed(hook, context, status):
    hook.get_job_state.return_value = state(status, "container exited 137")
    with pytest.raises(BatchJobError, match=f"job {JOB} ended {status}. container exited 137"):
        make_sensor().poke(context)
    hook.get_job_logs.assert_called_once_with(JOB)


def test_deferrable_sensor_defers_without_cancelling_the_job(hook, context):
    hook.get_job_state.return_value = state("RUNNING")
    with mock.patch("airflow_snowflake_batch.utils.job_wait.time") as clock:
        clock.time.return_value = NOW
        with pytest.raises(TaskDeferred) as deferred:
            make_sensor(deferrable=True).execute(context)

    trigger = deferred.value.trigger
    assert isinstance(trigger, SnowflakeBatchInferenceJobTrigger)
    assert (trigger.job_id, trigger.poll_interval, trigger.deadline) == (JOB, 20.0, NOW + 600)
    # The sensor only watches a job someone else owns.
    assert trigger.cancel_on_timeout is False and trigger.cancel_on_kill is False
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout == timedelta(seconds=600 + 20 + 60)


def test_deferrable_sensor_does_not_defer_for_a_finished_job(hook, context):
    hook.get_job_state.return_value = state("DONE")
    assert make_sensor(deferrable=True).execute(context) is None


def test_execute_complete_success(hook, context):
    event = {"outcome": "success", "job_id": JOB, "job_status": "DONE", "message": ""}
    assert make_sensor().execute_complete(context, event) is None
    hook.get_job_logs.assert_called_once_with(JOB)


def test_execute_complete_failed(hook, context):
    event = {"outcome": "failed", "job_id": JOB, "job_status": "FAILED", "message": "OOM"}
    with pytest.raises(BatchJobError, match=f"{JOB} ended FAILED. OOM"):
        make_sensor().execute_complete(context, event)


def test_execute_complete_timeout_is_a_sensor_timeout(hook, context):
    event = {"outcome": "timeout", "job_id": JOB, "job_status": "UNKNOWN", "message": "left running"}
    with pytest.raises(AirflowSensorTimeout, match=JOB):
        make_sensor().execute_complete(context, event)


@pytest.mark.parametrize("event", [None, {"outcome": "success"}], ids=["none", "incomplete"])
def test_execute_complete_rejects_malformed_events(hook, context, event):
    with pytest.raises(BatchJobError, match="resumed with"):
        make_sensor().execute_complete(context, event)


def test_patched_name_is_the_real_hook():
    """The patched name is the hook the sensor builds, imported only then (not when a DAG is parsed)."""
    import airflow_snowflake_batch.sensors.batch_job as module
    from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook

    assert not hasattr(module, "SnowflakeBatchInferenceHook")
    hook = make_sensor().make_hook(None)
    assert type(hook) is SnowflakeBatchInferenceHook and hook.snowflake_conn_id == "sf"


def test_poke_asks_the_hook_of_the_sensor_connection_and_overrides(hook_cls, hook, context):
    """The hook the sensor polls is built from its own connection arguments and the task's QUERY_TAG."""
    hook.get_job_state.return_value = state("RUNNING")
    make_sensor(snowflake_conn_id="sf_prod", database="ML", schema="PUBLIC", role="SCORER").poke(context)

    hook_cls.assert_called_once_with(
        snowflake_conn_id="sf_prod",
        database="ML",
        schema="PUBLIC",
        warehouse=None,
        role="SCORER",
        query_tag={"dag_id": "scoring", "task_id": "wait", "run_id": "r1"},
    )
    hook.__exit__.assert_called_once()  # the session is released after each poke
