"""Trigger that waits for a batch inference job on the triggerer without blocking its event loop."""

from __future__ import annotations

import asyncio
import functools
import json
import math
import time
from asyncio import sleep  # this module's own name: tests replace these waits without touching other loops'
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent
from asgiref.sync import sync_to_async

from airflow_snowflake_batch.backends.retry import is_transient
from airflow_snowflake_batch.exceptions import BatchJobError, InvalidArgumentError
from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook
from airflow_snowflake_batch.inference.progress import PROGRESS_INTERVAL, ProgressLog
from airflow_snowflake_batch.job_status import BatchJobStatus
from airflow_snowflake_batch.triggers.events import BatchJobEvent, BatchJobOutcome
from airflow_snowflake_batch.triggers.status_poller import (
    SharedStatusPoller,
    poller_key,
    shared_poller,
    shared_settings,
)
from airflow_snowflake_batch.utils.threads import in_thread

if TYPE_CHECKING:
    from airflow.models import Connection

# Backoff after a transient error: doubles from one poll interval up to this many seconds.
MAX_TRANSIENT_BACKOFF = 300.0


class SnowflakeBatchInferenceJobTrigger(BaseTrigger):
    """
    Poll a batch inference job until it ends, then fire one :class:`BatchJobEvent`.

    Status checks go through the triggerer's shared poller
    (:mod:`~airflow_snowflake_batch.triggers.status_poller`): the triggers of one connection share one
    session and one status query per tick (a multiple of ``poll_interval``), in a thread, so a
    thousand deferred jobs cost Snowflake no more than one. The first check comes about one
    ``poll_interval`` after deferral (0.5 to 1.5 of it, to meet the shared ticks), so the operator's
    own pre-defer check is not repeated at once. Transient errors (network, throttling, expired
    session) are retried with backoff until ``deadline``; only other errors end the wait with an
    ``error`` event. A job still running at ``deadline`` is cancelled.

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
    :param output_location: The job's folder; given, the trigger logs the job's progress (rows or files
        so far, time left) in the triggerer's log at most once per ``progress_interval``, with one
        extra backend call each time. It yields no event for progress.
    :param progress_interval: Seconds between two progress look-ups of this job (default a minute).
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
        output_location: str | None = None,
        progress_interval: float = PROGRESS_INTERVAL,
    ) -> None:
        super().__init__()
        self.job_id = job_id
        self.snowflake_conn_id = snowflake_conn_id
        self.poll_interval = float(poll_interval)
        self.deadline = None if deadline is None else float(deadline)
        self.cancel_on_timeout = cancel_on_timeout
        self.cancel_on_kill = cancel_on_kill
        self.hook_params = dict(hook_params or {})
        self.output_location = output_location
        self.progress_interval = float(progress_interval)
        self._looking: asyncio.Task[None] | None = None
        # Written so NaN fails too: it compares false with everything, so a NaN interval polled without
        # pause and a NaN deadline never came.
        if not 0 < self.poll_interval < float("inf"):
            raise InvalidArgumentError(
                f"poll_interval must be a positive, finite number of seconds, got {poll_interval!r}."
            )
        if not 0 < self.progress_interval < float("inf"):
            raise InvalidArgumentError(
                f"progress_interval must be a positive, finite number of seconds, got {progress_interval!r}."
            )
        if self.deadline is not None and not abs(self.deadline) < float("inf"):
            raise InvalidArgumentError(f"deadline must be finite epoch seconds or None, got {deadline!r}.")
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
                "output_location": self.output_location,
                "progress_interval": self.progress_interval,
            },
        )

    async def _connection(self) -> Connection:
        """The connection, read where the triggerer's SDK calls are safe.

        Hooks here run their blocking calls (Snowflake, DuckDB) in worker threads. An Airflow SDK call
        from such a thread (a connection look-up, the secret masker) crashes the triggerer of Airflow
        3.1 and 3.2.1 ("Response read out of order", apache/airflow#64620). ``sync_to_async`` runs the
        look-up in a thread whose SDK calls are routed back to this event loop, as Airflow's guidance
        for triggers says; the hooks then get the connection and never look it up themselves.
        """
        return await sync_to_async(_get_connection)(self.snowflake_conn_id)

    async def _hook(self) -> SnowflakeBatchInferenceHook:
        return SnowflakeBatchInferenceHook(
            snowflake_conn_id=self.snowflake_conn_id, connection=await self._connection(), **self.hook_params
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        key = poller_key(self.snowflake_conn_id, self.hook_params)
        try:
            factory = functools.partial(  # holds no trigger: the poller outlives the trigger that made it
                SnowflakeBatchInferenceHook,
                snowflake_conn_id=self.snowflake_conn_id,
                connection=await self._connection(),
                **shared_settings(self.hook_params),
            )
            async with shared_poller(key, factory) as poller:
                event = await self._wait(poller)
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
        yield TriggerEvent(event.to_dict())

    async def _wait(self, poller: SharedStatusPoller) -> BatchJobEvent:
        progress = ProgressLog(time.time(), self.progress_interval) if self.output_location else None
        try:
            return await self._poll(poller, progress)
        finally:
            if self._looking is not None:
                self._looking.cancel()

    async def _poll(self, poller: SharedStatusPoller, progress: ProgressLog | None) -> BatchJobEvent:
        delay, failures, last, tick = self.poll_interval, 0, None, None
        while True:
            tick = self._next_tick(tick, delay)
            await sleep(self._until_deadline(max(0.0, tick - time.time())))
            try:
                state = await poller.job_state(self.job_id)
                if state is None:
                    raise BatchJobError(f"Batch inference job {self.job_id} does not exist (or was dropped).")
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
                if state.status is not last:  # one line per change, not per check of 1,000 jobs
                    self.log.info("Job %s is %s.", self.job_id, state.status.value)
                    last = state.status
                # A look-up still running when the next is due is not doubled: at most one at a time.
                idle = self._looking is None or self._looking.done()
                if progress is not None and self.output_location and idle and progress.due(time.time()):
                    self._looking = asyncio.create_task(
                        self._log_progress(poller, progress, self.output_location), name="batch-job-progress"
                    )
            if self.deadline is not None and time.time() >= self.deadline:
                return await self._time_out()

    async def _log_progress(self, poller: SharedStatusPoller, progress: ProgressLog, location: str) -> None:
        found = await poller.job_progress(self.job_id, location)
        if found is not None:
            self.log.info("%s", progress.line(self.job_id, time.time(), found.done, found.total, found.unit))

    def _next_tick(self, previous: float | None, delay: float) -> float:
        """When to check next (epoch seconds): a tick, i.e. a multiple of ``poll_interval``.

        Every trigger of an interval checks on the same ticks, so the shared poller answers them all
        with one status query per tick. Checks are ``delay`` apart, counted from the previous tick
        (not from when its answer came), unless that tick has passed already; the first check,
        ``poll_interval`` after deferral, moves by at most half an interval to meet the ticks.
        """
        now, step = time.time(), self.poll_interval
        if previous is not None and previous + delay >= now:
            return previous + delay
        earliest = now + delay - step / 2 if previous is None else now
        return math.ceil(earliest / step) * step

    def _until_deadline(self, delay: float) -> float:
        if self.deadline is None:
            return delay
        return max(0.0, min(delay, self.deadline - time.time()))

    async def _time_out(self) -> BatchJobEvent:
        message = f"Job {self.job_id} did not finish before its deadline"
        status = BatchJobStatus.UNKNOWN
        if self.cancel_on_timeout:
            try:
                hook = await self._hook()  # the task's own session and query tag, as for any cancel
            except Exception as exc:
                self.log.exception("Could not cancel job %s at its deadline.", self.job_id)
                message += f"; cancelling it failed ({exc}), so it may still be running."
                return BatchJobEvent(BatchJobOutcome.TIMEOUT, self.job_id, status, message)
            try:
                await hook.a_cancel_job(self.job_id)
                message += " and was cancelled."
                status = BatchJobStatus.CANCELLING
            except Exception as exc:
                self.log.exception("Could not cancel job %s at its deadline.", self.job_id)
                message += f"; cancelling it failed ({exc}), so it may still be running."
            finally:
                await in_thread(hook.close)
        else:
            message += "; it was left running."
        return BatchJobEvent(BatchJobOutcome.TIMEOUT, self.job_id, status, message)

    async def on_kill(self) -> None:
        """Cancel the job when a user marks or clears the deferred task (Airflow 3.3+; never on
        triggerer restarts). Best effort: a failure is logged, never raised.

        When the task was cleared, its new try may already have re-attached to this job; the new
        try then sees the job CANCELLED and submits its own (see the operator), so cancelling here
        never fails it.
        """
        if not self.cancel_on_kill:
            return
        try:
            hook = await self._hook()
        except Exception:
            self.log.exception(
                "Could not cancel batch inference job %s; it may still be running.", self.job_id
            )
            return
        try:
            self.log.info("Task was killed: cancelling batch inference job %s.", self.job_id)
            await hook.a_cancel_job(self.job_id)
        except Exception:
            # Best effort, as in the operator's on_kill: the kill must not fail on a cancel that failed.
            self.log.exception(
                "Could not cancel batch inference job %s; it may still be running.", self.job_id
            )
        finally:
            try:
                await in_thread(hook.close)
            except Exception:
                self.log.warning(
                    "Could not close the session used to cancel job %s.", self.job_id, exc_info=True
                )


def _get_connection(conn_id: str) -> Connection:
    return SnowflakeBatchInferenceHook.get_connection(conn_id)
