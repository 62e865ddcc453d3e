"""What the batch job operator and sensor share about waiting for a job: deadlines, outcomes, logs."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import TYPE_CHECKING

from airflow_snowflake_batch.exceptions import BatchJobError
from airflow_snowflake_batch.triggers.events import BatchJobEvent, BatchJobOutcome

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.sdk.types import Logger

    from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook

# Extra time given to ``defer(timeout=...)`` beyond the trigger's own deadline, so the trigger, which
# cancels the job, fires first; the defer timeout is only a backstop if the triggerer is down.
DEFER_TIMEOUT_PADDING = 60.0


def job_deadline(
    context: Context, timeout: float | None, execution_timeout: timedelta | None
) -> float | None:
    """The wall-clock deadline (epoch seconds) of a wait: the earlier of ``timeout`` from now and the
    task's ``execution_timeout`` from its start. Airflow does not enforce ``execution_timeout`` while a
    task is deferred, so the trigger enforces it with this deadline."""
    now = time.time()
    limits = [now + timeout] if timeout is not None else []
    if execution_timeout is not None:
        ti = context.get("ti")
        start = getattr(ti, "start_date", None)
        limits.append((start.timestamp() if start else now) + execution_timeout.total_seconds())
    return min(limits) if limits else None


def deadline_passed(deadline: float | None) -> bool:
    """Whether the wall-clock ``deadline`` of :func:`job_deadline` has passed (never, for None)."""
    return deadline is not None and time.time() >= deadline


def defer_timeout(deadline: float | None, poll_interval: float) -> timedelta | None:
    """The padded ``defer(timeout=...)`` backstop for a trigger with ``deadline``."""
    if deadline is None:
        return None
    return timedelta(seconds=max(0.0, deadline - time.time()) + poll_interval + DEFER_TIMEOUT_PADDING)


def copy_job_logs(hook: SnowflakeBatchInferenceHook, job_id: str, *, failed: bool, log: Logger) -> None:
    """Copy the job's own logs into the task log (error level when it failed). Best effort."""
    try:
        logs = hook.get_job_logs(job_id)
    except Exception as exc:
        log.warning("Could not fetch the logs of batch inference job %s: %s", job_id, exc)
        return
    if logs and logs.strip():
        level = logging.ERROR if failed else logging.INFO
        log.log(level, "Logs of batch inference job %s:\n%s", job_id, logs.rstrip())


def raise_for_outcome(event: BatchJobEvent, *, output_location: str | None = None) -> None:
    """Raise a :class:`BatchJobError` naming the job unless it succeeded."""
    if event.is_success:
        return
    where = f" Partial output, if any, is under {output_location}." if output_location else ""
    detail = f" {event.message}" if event.message else ""
    if event.outcome is BatchJobOutcome.TIMEOUT:
        raise BatchJobError(f"Batch inference job {event.job_id} timed out.{detail}{where}")
    if event.outcome is BatchJobOutcome.ERROR:
        raise BatchJobError(
            f"Lost track of batch inference job {event.job_id}.{detail} The job may still be running; "
            "a retry of this task re-attaches to it."
        )
    hint = f" {event.job_status.hint}" if event.job_status.hint else ""
    raise BatchJobError(
        f"Batch inference job {event.job_id} ended {event.job_status.value}.{detail}{hint}{where} "
        "See the job logs above."
    )


def end_wait(
    hook: SnowflakeBatchInferenceHook,
    event: BatchJobEvent,
    *,
    log: Logger,
    output_location: str | None = None,
) -> None:
    """Copy the ended job's logs into the task log, then raise unless it succeeded."""
    if event.outcome is not BatchJobOutcome.ERROR:  # after an error the job may still be running
        copy_job_logs(hook, event.job_id, failed=not event.is_success, log=log)
    raise_for_outcome(event, output_location=output_location)
