"""One status look-up per connection and tick for all the batch jobs the triggers of a triggerer watch.

A triggerer runs every deferred task's trigger on one event loop. If each trigger held its own
Snowflake session and ran its own status query in a thread, 1,000 deferred tasks would mean 1,000
sessions and 1,000 blocking calls per interval queued on asyncio's few executor threads: checks fall
behind (a 5 s interval became ~25 s at 1,000 jobs) and the load on Snowflake grows with the task count.

Instead, the triggers of one event loop that use the same connection (and database, schema, warehouse,
role) share a :class:`SharedStatusPoller`. Triggers wake on ticks common to their poll interval (see
``SnowflakeBatchInferenceJobTrigger``), ask the poller, and the poller answers all the requests of a
tick with one :meth:`~airflow_snowflake_batch.hooks.batch_inference.SnowflakeBatchInferenceHook.get_job_states`
call in one thread: one ``SHOW JOB SERVICES`` per schema on Snowflake, one session per connection.
Nothing is stored here that a trigger needs to survive a triggerer restart: triggers re-register on start.

A trigger may also ask for its job's progress (:meth:`SharedStatusPoller.job_progress`, at most once a
minute per job: :mod:`airflow_snowflake_batch.inference.progress`). Each look-up is one backend call for
one job (a job's folder is its own ``LIST``), in a thread; at most ``PROGRESS_THREADS`` run at once per
poller, so they never take all the threads the status rounds need, and the trigger does not wait for
them. They reuse the session the status rounds opened (no look-up before the first round).
:attr:`SharedStatusPoller.progress_calls` counts them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from airflow_snowflake_batch.utils.threads import in_thread

if TYPE_CHECKING:
    from airflow_snowflake_batch.backends.base import JobProgress
    from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook
    from airflow_snowflake_batch.job_status import JobState

log = logging.getLogger(__name__)

# How long a round waits for the other triggers due on the same tick before querying. Triggers waking
# on one tick resume within a few loop iterations; a late one only waits for the next round.
GATHER_SECONDS = 0.05
# Progress look-ups running at once per poller: 2 look-ups of 0.1 s keep up with 1,200 jobs a minute.
PROGRESS_THREADS = 2


class SharedStatusPoller:
    """Answers job state requests in rounds: each round is one batched status call, in one thread.

    :param hook_factory: Builds the hook (one session) the poller keeps while any trigger uses it.
    """

    def __init__(self, hook_factory: Callable[[], SnowflakeBatchInferenceHook]) -> None:
        self._hook_factory = hook_factory
        self._hook: SnowflakeBatchInferenceHook | None = None
        self._pending: dict[str, list[asyncio.Future[JobState | None]]] = {}
        self._progress_slots: asyncio.Semaphore | None = None
        self._hook_lock = threading.Lock()  # status rounds and progress look-ups may both build it
        self._timer: asyncio.TimerHandle | None = None
        self._round: asyncio.Task[None] | None = None
        self.users = 0
        #: Batched status calls made (for tests and benchmarks).
        self.calls = 0
        #: Progress look-ups made, one per job asked (for tests and benchmarks).
        self.progress_calls = 0

    async def job_state(self, job_id: str) -> JobState | None:
        """The job's state from the next round (None: no such job); a failed round raises its error."""
        future: asyncio.Future[JobState | None] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(job_id, []).append(future)
        self._schedule()
        return await future

    async def job_progress(self, job_id: str, output_location: str) -> JobProgress | None:
        """The job's progress from the next round (None: nothing to tell; a failed look-up gives None:
        progress is advisory, the status decides)."""
        if self._hook is None:  # the first status round opens the session; no login for progress
            return None
        if self._progress_slots is None:
            self._progress_slots = asyncio.Semaphore(PROGRESS_THREADS)
        async with self._progress_slots:
            return await in_thread(self._progress_of, job_id, output_location)

    def _schedule(self) -> None:
        """Start a round soon, unless one is due or running (it schedules the next when it ends)."""
        if self._timer is None and self._round is None:
            self._timer = asyncio.get_running_loop().call_later(GATHER_SECONDS, self._start_round)

    def _start_round(self) -> None:
        self._timer = None
        self._round = asyncio.get_running_loop().create_task(self._run_round(), name="batch-job-status")

    async def _run_round(self) -> None:
        batch, self._pending = self._pending, {}
        # Waiters cancelled meanwhile (on_kill, cleanup, a triggerer shutting down) are dropped.
        waiting = {
            job: live for job, futures in batch.items() if (live := [f for f in futures if not f.done()])
        }
        try:
            if not waiting:
                return
            try:
                states = await in_thread(self._states, list(waiting))
            except Exception as exc:  # each trigger of the round decides (transient: back off; else fail)
                outcome: dict[str, Any] = dict.fromkeys(waiting, exc)
            else:
                outcome = {job: states.get(job) for job in waiting}
            for job, futures in waiting.items():
                for future in futures:
                    if future.done():
                        continue
                    if isinstance(outcome[job], Exception):
                        future.set_exception(outcome[job])
                    else:
                        future.set_result(outcome[job])
        finally:
            self._round = None
            if self._pending:
                self._schedule()

    def _states(self, job_ids: list[str]) -> dict[str, JobState | None]:
        self.calls += 1
        return self._session_hook().get_job_states(job_ids)

    def _session_hook(self) -> SnowflakeBatchInferenceHook:
        with self._hook_lock:
            if self._hook is None:
                self._hook = self._hook_factory()
            return self._hook

    def _progress_of(self, job_id: str, location: str) -> JobProgress | None:
        # The one session serves this thread and the status round's at once: Snowpark sessions are
        # thread-safe for queries (Snowflake's "thread-safe session objects", Snowpark Python 1.24+).
        self.progress_calls += 1
        try:
            return self._session_hook().get_job_progress(job_id, location)
        except Exception as exc:  # noqa: BLE001 - advisory: never fails the wait
            log.info("Could not read the progress of job %s: %s", job_id, exc)
            return None

    async def close(self) -> None:
        """Stop the rounds and release the session."""
        self._pending = {}
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._round is not None:
            self._round.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._round
        hook, self._hook = self._hook, None
        if hook is not None:
            await in_thread(hook.close)


# The pollers of this process, keyed by event loop and connection settings.
_pollers: dict[tuple[int, str, str], tuple[asyncio.AbstractEventLoop, SharedStatusPoller]] = {}


def shared_settings(hook_params: dict[str, Any]) -> dict[str, Any]:
    """The hook parameters a shared session keeps: all but the query tag.

    The query tag names one task (dag, task, run); a shared session cannot carry every task's, so
    status queries of the triggerer carry none. Cancelling a job still uses the task's own tag.
    """
    return {k: v for k, v in hook_params.items() if k != "query_tag"}


def poller_key(snowflake_conn_id: str, hook_params: dict[str, Any]) -> tuple[str, str]:
    """What makes two triggers share a poller: the connection and its overrides (not the query tag)."""
    return snowflake_conn_id, json.dumps(shared_settings(hook_params), sort_keys=True, default=str)


@contextlib.asynccontextmanager
async def shared_poller(
    key: tuple[str, str], hook_factory: Callable[[], SnowflakeBatchInferenceHook]
) -> AsyncIterator[SharedStatusPoller]:
    """The running loop's poller for ``key`` (see :func:`poller_key`), closed when its last user leaves."""
    loop = asyncio.get_running_loop()
    full_key = (id(loop), *key)
    entry = _pollers.get(full_key)
    if entry is None or entry[0] is not loop:
        entry = _pollers[full_key] = (loop, SharedStatusPoller(hook_factory))
    poller = entry[1]
    poller.users += 1
    try:
        yield poller
    finally:
        poller.users -= 1
        if poller.users == 0 and _pollers.get(full_key) is entry:
            del _pollers[full_key]
            try:
                await poller.close()
            except Exception:  # a failed close must not replace the trigger's event or error
                log.warning("Could not close the shared status poller's session.", exc_info=True)
