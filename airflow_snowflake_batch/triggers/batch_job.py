"""Trigger that waits for a batch inference job on the triggerer without blocking its event loop."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_snowflake_batch.backends.retry import is_transient
from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook
from airflow_snowflake_batch.job_status import BatchJobStatus
from airflow_snowflake_batch.triggers.events import BatchJobEvent, BatchJobOutcome

# Backoff after a transient error: doubles from one poll interval up to this many seconds.
MAX_TRANSIENT_BACKOFF = 300.0


class SnowflakeBatchInferenceJobTrigger(BaseTrigger):
    """
    Poll a batch inference job until it ends, then fire one :class:`BatchJobEvent`.

    One hook (one Snowflake session) serves the whole wait; every call runs in a thread. The first
    check comes one ``poll_interval`` after deferral, so the operator's own pre-defer check is not
    repeated at once. Transient errors (network, throttling, expired session) are retried with
    backoff until ``deadline``; only other errors end the wait with an ``error`` event. A job still
    running at ``deadline`` is cancelled.

    :param job_id: Fully qualified job id, ``DB.SCHEMA.NAME``.
    :param snowflake_conn_id: Connection of the hook that polls.
    :param poll_interval: Seconds between status checks.
    :param deadline: Wall-clock limit (epoch seconds). At the deadline the job is cancelled (when
        ``cancel_on_timeout``) and a ``timeout`` event fires. Being absolute, it survives a
        triggerer restart. None waits without limit.
    :param cancel_on_timeout: Cancel the job when the deadline passes.
    :param cancel_on_kill: Cancel the job when a user marks, clears or kills the deferred task.
    :param hook_params: Keyword arguments of the hook (``database``, ``schema``, ``warehouse``,
        ``role``, ``query_tag``); must be JSON-serializable.
    """

    def __init__(
        self,
        *,
        job_id: str,
        snowflake_conn_id: str,
        poll_interval: float = 30.0,
        deadline: float | None = None,
        cancel_on_timeout: bool = True,
        cancel_on_kill: bool = True,
        hook_params: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.job_id = job_id
        self.snowflake_conn_id = snowflake_conn_id
        self.poll_interval = float(poll_interval)
        self.deadline = None if deadline is None else float(deadline)
        self.cancel_on_timeout = cancel_on_timeout
        self.cancel_on_kill = cancel_on_kill
        self.hook_params = dict(hook_params or {})
        if self.poll_interval <= 0:
            raise ValueError(f"poll_interval must be a positive number of seconds, got {poll_interval!r}.")
        try:
            json.dumps(self.serialize()[1])
        except TypeError as exc:
            # Checked here so the worker fails before deferring, not the triggerer after.
            raise ValueError(
                f"{type(self).__name__} for job {job_id} got a value that is not JSON-serializable "
                f"({exc}). Pass plain strings, numbers, booleans, lists and dicts in hook_params, "
                "or disable deferrable mode."
            ) from None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "job_id": self.job_id,
                "snowflake_conn_id": self.snowflake_conn_id,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "cancel_on_timeout": self.cancel_on_timeout,
                "cancel_on_kill": self.cancel_on_kill,
                "hook_params": self.hook_params,
            },
        )

    def _hook(self) -> SnowflakeBatchInferenceHook:
        return SnowflakeBatchInferenceHook(snowflake_conn_id=self.snowflake_conn_id, **self.hook_params)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = self._hook()
        try:
            event = await self._wait(hook)
        except Exception as exc:
            self.log.exception(
                "Stopped watching batch inference job %s after an unexpected error.", self.job_id
            )
            event = BatchJobEvent(
                BatchJobOutcome.ERROR,
                self.job_id,
                BatchJobStatus.UNKNOWN,
                f"The trigger could not watch job {self.job_id}: {type(exc).__name__}: {exc}",
            )
        finally:
            await asyncio.to_thread(hook.close)
        yield TriggerEvent(event.to_dict())

    async def _wait(self, hook: SnowflakeBatchInferenceHook) -> BatchJobEvent:
        delay, failures = self.poll_interval, 0
        while True:
            await asyncio.sleep(self._until_deadline(delay))
            try:
                state = await hook.a_get_job_state(self.job_id)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                failures += 1
                delay = min(self.poll_interval * 2**failures, MAX_TRANSIENT_BACKOFF)
                self.log.warning(
                    "Transient error checking job %s (%s in a row): %s", self.job_id, failures, exc
                )
            else:
                # Status before deadline, as in the hook's wait_for_job: a job that ended in time counts.
                if state.status.is_terminal:
                    return BatchJobEvent.from_state(state)
                delay, failures = self.poll_interval, 0
                self.log.info("Job %s is %s.", self.job_id, state.status.value)
            if self.deadline is not None and time.time() >= self.deadline:
                return await self._time_out(hook)

    def _until_deadline(self, delay: float) -> float:
        if self.deadline is None:
            return delay
        return max(0.0, min(delay, self.deadline - time.time()))

    async def _time_out(self, hook: SnowflakeBatchInferenceHook) -> BatchJobEvent:
        message = f"Job {self.job_id} did not finish before its deadline"
        status = BatchJobStatus.UNKNOWN
        if self.cancel_on_timeout:
            try:
                await hook.a_cancel_job(self.job_id)
                message += " and was cancelled."
                status = BatchJobStatus.CANCELLING
            except Exception as exc:
                self.log.exception("Could not cancel job %s at its deadline.", self.job_id)
                message += f"; cancelling it failed ({exc}), so it may still be running."
        else:
            message += "; it was left running."
        return BatchJobEvent(BatchJobOutcome.TIMEOUT, self.job_id, status, message)

    async def on_kill(self) -> None:
        """Cancel the job when a user kills the deferred task (Airflow 3.3+; never on triggerer restarts)."""
        if not self.cancel_on_kill:
            return
        hook = self._hook()
        try:
            self.log.info("Task was killed: cancelling batch inference job %s.", self.job_id)
            await hook.a_cancel_job(self.job_id)
        except Exception:
            # Best effort, as in the operator's on_kill: the kill must not fail on a cancel that failed.
            self.log.exception(
                "Could not cancel batch inference job %s; it may still be running.", self.job_id
            )
        finally:
            await asyncio.to_thread(hook.close)
