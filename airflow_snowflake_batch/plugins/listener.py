"""Cancel the batch job of a deferred task that a user marks failed or success.

While a task is deferred its job is watched by a trigger, whose ``on_kill`` cancels the job when the
task is marked (Airflow 3.3+). That only works once the triggerer has picked the trigger up: a task
marked in the second between deferral and pick-up, or while no triggerer runs, has no running trigger
to kill, and its job ran to the end. Airflow 3.3 calls ``on_task_instance_failed`` /
``on_task_instance_success`` in the API server whenever a task is marked, whatever the triggerer is
doing; this listener does there what the trigger's ``on_kill`` would have done. A job the trigger
already cancelled is seen as ended (or cancelled again: a second cancel is harmless).

Imported by every Airflow component (listeners are loaded everywhere): module-level imports stay
light, the hook is imported only when there is a job to cancel.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from airflow.listeners import hookimpl

log = logging.getLogger(__name__)

#: The trigger of the batch operator (and the sensor, which sets ``cancel_on_kill=False``).
TRIGGER_CLASSPATH = "airflow_snowflake_batch.triggers.batch_job.SnowflakeBatchInferenceJobTrigger"
#: Longest wait for a cancel inside the API request that marked the task; a slower one (a
#: Snowflake login) goes on in the background, so marking a task never hangs on Snowflake.
CANCEL_WAIT_SECONDS = 10.0


@dataclass(frozen=True)
class Cancellation:
    """The job to cancel and how to reach it: what the trigger's ``on_kill`` would use."""

    job_id: str
    snowflake_conn_id: str
    hook_params: dict[str, Any] = field(default_factory=dict)


def cancellation_for(
    previous_state: object, trigger_id: int | None, classpath: str | None, kwargs: dict[str, Any] | None
) -> Cancellation | None:
    """The job to cancel for a task marked failed or success, or None to leave it alone.

    :param previous_state: As the listener got it: Airflow 3.3 passes None when a user marks a task
        (API or UI) and ``running`` when a task's own run ends in the worker, which is not ours to act
        on (the task's ``on_kill`` or result handled its job).
    :param trigger_id: The task instance's trigger: set while it is deferred, cleared when it resumes.
    :param classpath: The trigger's class path; only this provider's batch job trigger is acted on.
    :param kwargs: The trigger's keyword arguments (job id, connection, ``cancel_on_kill``).
    """
    if previous_state is not None and str(getattr(previous_state, "value", previous_state)) != "deferred":
        return None
    if trigger_id is None or classpath != TRIGGER_CLASSPATH or not kwargs:
        return None
    if not kwargs.get("cancel_on_kill", True) or not kwargs.get("job_id"):
        return None  # the sensor waits on someone else's job; an operator with cancel_on_kill=False
    return Cancellation(
        job_id=str(kwargs["job_id"]),
        snowflake_conn_id=str(kwargs["snowflake_conn_id"]),
        hook_params={k: v for k, v in (kwargs.get("hook_params") or {}).items() if v is not None},
    )


def cancel_if_active(cancellation: Cancellation) -> str:
    """Cancel the job unless it has ended; return what was done (for the log)."""
    from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook

    with SnowflakeBatchInferenceHook(
        snowflake_conn_id=cancellation.snowflake_conn_id, **cancellation.hook_params
    ) as hook:
        state = hook.find_job(cancellation.job_id)
        if state is None:
            return "does not exist: nothing to cancel"
        if not state.status.is_active:
            return f"already ended ({state.status.value}): nothing to cancel"
        hook.cancel_job(cancellation.job_id)
        return f"was {state.status.value}: cancelled"


def _trigger_of(task_instance: Any) -> tuple[int | None, str | None, dict[str, Any] | None]:
    """The trigger id, class path and kwargs of an API-server task instance (an ORM object).

    Read in the task instance's own session (the marking request's transaction) when it has one,
    so the trigger row is seen before the triggerer's clean-up of unused triggers removes it.
    """
    trigger_id = getattr(task_instance, "trigger_id", None)  # a worker's RuntimeTaskInstance has none
    if trigger_id is None:
        return None, None, None
    from airflow.models.trigger import Trigger
    from sqlalchemy.orm import object_session

    session = object_session(task_instance)
    if session is not None:
        trigger = session.get(Trigger, trigger_id)
        return trigger_id, *((trigger.classpath, trigger.kwargs) if trigger else (None, None))
    from airflow.utils.session import create_session

    with create_session() as own:
        trigger = own.get(Trigger, trigger_id)
        return trigger_id, *((trigger.classpath, trigger.kwargs) if trigger else (None, None))


def _on_marked(previous_state: object, task_instance: Any, new_state: str) -> None:
    """Never raises: a listener error must not fail the request that marked the task."""
    try:
        if previous_state is not None and str(getattr(previous_state, "value", previous_state)) != "deferred":
            return  # cheap exit for every task that ends in a worker (previous state running)
        cancellation = cancellation_for(previous_state, *_trigger_of(task_instance))
        if cancellation is None:
            return
        task = f"{task_instance.dag_id}.{task_instance.task_id} run {task_instance.run_id}"
        log.info(
            "Deferred task %s was marked %s: cancelling its batch inference job %s if still active.",
            task,
            new_state,
            cancellation.job_id,
        )
    except Exception:
        log.exception("Could not check whether a marked task's batch inference job needs cancelling.")
        return

    def run() -> None:
        try:
            outcome = cancel_if_active(cancellation)
            log.info("Batch inference job %s of marked task %s %s.", cancellation.job_id, task, outcome)
        except Exception:
            log.exception(
                "Could not cancel batch inference job %s of marked task %s; it may still be running.",
                cancellation.job_id,
                task,
            )

    worker = threading.Thread(target=run, name=f"cancel-{cancellation.job_id}", daemon=True)
    worker.start()
    worker.join(CANCEL_WAIT_SECONDS)
    if worker.is_alive():
        log.warning(
            "Cancelling job %s takes longer than %.0fs; it goes on in the background.",
            cancellation.job_id,
            CANCEL_WAIT_SECONDS,
        )


@hookimpl
def on_task_instance_failed(previous_state: object, task_instance: Any, error: object) -> None:
    _on_marked(previous_state, task_instance, "failed")


@hookimpl
def on_task_instance_success(previous_state: object, task_instance: Any) -> None:
    _on_marked(previous_state, task_instance, "success")
