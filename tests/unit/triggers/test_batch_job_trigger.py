from __future__ import annotations

import asyncio
import threading
import time
from unittest import mock

import pytest
from airflow.triggers.base import TriggerEvent

from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook
from airflow_snowflake_batch.job_status import BatchJobStatus, JobState
from airflow_snowflake_batch.triggers.batch_job import SnowflakeBatchInferenceJobTrigger
from airflow_snowflake_batch.triggers.events import BatchJobEvent, BatchJobOutcome

MOD = "airflow_snowflake_batch.triggers.batch_job"
JOB = "ML.PUBLIC.AIRFLOW_BATCH_0123"


class ConnectionResetByPeer(ConnectionError):
    """A transient network error as the connector raises it."""


def state(status: str, message: str = "") -> JobState:
    return JobState(JOB, BatchJobStatus(status), message)


def make_trigger(**kwargs) -> SnowflakeBatchInferenceJobTrigger:
    return SnowflakeBatchInferenceJobTrigger(
        **{"job_id": JOB, "snowflake_conn_id": "sf", "poll_interval": 10.0, **kwargs}
    )


@pytest.fixture
def hook_cls():
    with mock.patch(f"{MOD}.SnowflakeBatchInferenceHook", autospec=True) as cls:
        yield cls


@pytest.fixture
def hook(hook_cls):
    hook = hook_cls.return_value
    # The trigger asks the shared poller, which asks get_job_states for the jobs of a round; the tests
    # script one job's answers through ``hook.status``.
    hook.status = mock.Mock(name="status")
    hook.get_job_states.side_effect = lambda ids: {job: hook.status(job) for job in ids}
    return hook


@pytest.fixture
def clock():
    """The trigger's wall clock, on a tick of every poll interval the tests use; the sleeps advance it."""
    clock = FakeClock(1000.0)
    with mock.patch(f"{MOD}.time", clock):
        yield clock


@pytest.fixture
def sleep(clock):
    async def advance(seconds: float) -> None:
        clock.now += seconds

    with mock.patch(f"{MOD}.sleep", new_callable=mock.AsyncMock, side_effect=advance) as sleep:
        yield sleep


class FakeClock:
    """Stands in for the trigger module's ``time``; its ``sleep`` (patched) advances it."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


async def first_event(trigger: SnowflakeBatchInferenceJobTrigger) -> BatchJobEvent:
    events = [e async for e in trigger.run()]
    assert len(events) == 1 and isinstance(events[0], TriggerEvent)
    return BatchJobEvent.from_dict(events[0].payload)


def test_serialize_round_trips():
    trigger = make_trigger(
        deadline=1_800_000_000.5,
        cancel_on_kill=False,
        hook_params={"database": "ML", "query_tag": {"dag_id": "d"}},
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == f"{MOD}.SnowflakeBatchInferenceJobTrigger"
    assert kwargs["deadline"] == 1_800_000_000.5 and kwargs["cancel_on_kill"] is False
    assert SnowflakeBatchInferenceJobTrigger(**kwargs).serialize() == (classpath, kwargs)


def test_rejects_kwargs_the_triggerer_could_not_rebuild():
    with pytest.raises(ValueError, match="not JSON-serializable"):
        make_trigger(hook_params={"session_parameters": object()})


def test_rejects_non_positive_poll_interval():
    with pytest.raises(ValueError, match="poll_interval"):
        make_trigger(poll_interval=0)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        ("DONE", BatchJobOutcome.SUCCESS),
        ("FAILED", BatchJobOutcome.FAILED),
        ("INTERNAL_ERROR", BatchJobOutcome.FAILED),
        ("CANCELLED", BatchJobOutcome.CANCELLED),
        ("DELETED", BatchJobOutcome.CANCELLED),
        # Documented DESCRIBE SERVICE statuses that used to read as UNKNOWN (waited on until the deadline).
        ("DELETING", BatchJobOutcome.CANCELLED),
        ("SUSPENDING", BatchJobOutcome.FAILED),
        ("SUSPENDED", BatchJobOutcome.FAILED),
    ],
    ids=["done", "failed", "internal-error", "cancelled", "deleted", "deleting", "suspending", "suspended"],
)
async def test_terminal_status_gives_its_event(hook_cls, hook, sleep, status, outcome):
    hook.status.side_effect = [state("PENDING"), state("RUNNING"), state(status, "boom")]

    event = await first_event(make_trigger(hook_params={"database": "ML"}))

    assert event == BatchJobEvent(outcome, JOB, BatchJobStatus(status), "boom")
    # One hook, built from the serialized kwargs, for the whole wait; closed at the end.
    hook_cls.assert_called_once_with(
        snowflake_conn_id="sf", connection=hook_cls.get_connection.return_value, database="ML"
    )
    hook_cls.get_connection.assert_called_once_with("sf")
    assert hook.status.call_args_list == [mock.call(JOB)] * 3
    hook.close.assert_called_once_with()
    hook.a_cancel_job.assert_not_awaited()


@pytest.mark.asyncio
async def test_first_check_waits_one_poll_interval(hook, sleep):
    calls: list[str] = []
    sleep.side_effect = lambda seconds: calls.append(f"sleep {seconds}")

    def poll(job_id):
        calls.append(f"poll {job_id}")
        return state("DONE")

    hook.status.side_effect = poll

    await first_event(make_trigger())

    assert calls == ["sleep 10.0", f"poll {JOB}"]


@pytest.mark.asyncio
async def test_transient_errors_are_retried_with_backoff(hook, sleep):
    hook.status.side_effect = [
        ConnectionResetByPeer("reset"),
        TimeoutError("read timed out"),
        state("RUNNING"),
        state("DONE"),
    ]

    event = await first_event(make_trigger())

    assert event.outcome is BatchJobOutcome.SUCCESS
    # poll interval, then backoff doubling per failure in a row, then back to the poll interval.
    assert [c.args[0] for c in sleep.await_args_list] == [10.0, 20.0, 40.0, 10.0]


@pytest.mark.asyncio
async def test_other_errors_end_with_an_error_event(hook, sleep):
    hook.status.side_effect = PermissionError("role ANALYST cannot see the job")

    event = await first_event(make_trigger())

    assert event.outcome is BatchJobOutcome.ERROR
    assert event.job_id == JOB and "role ANALYST cannot see the job" in event.message
    hook.close.assert_called_once_with()
    hook.a_cancel_job.assert_not_awaited()


@pytest.mark.asyncio
async def test_deadline_cancels_the_job_and_times_out(hook, sleep):
    clock = FakeClock(1000.0)

    async def advance(seconds: float) -> None:
        clock.now += seconds

    sleep.side_effect = advance
    hook.status.return_value = state("RUNNING")

    with mock.patch(f"{MOD}.time", clock):
        event = await first_event(make_trigger(deadline=1025.0))

    assert event.outcome is BatchJobOutcome.TIMEOUT and "cancelled" in event.message
    hook.a_cancel_job.assert_awaited_once_with(JOB)
    # Polled at 1010, 1020 and, the last sleep cut to the 5 s left, at the deadline itself.
    assert [c.args[0] for c in sleep.await_args_list] == [10.0, 10.0, 5.0]
    assert hook.status.call_count == 3


@pytest.mark.asyncio
async def test_a_job_that_ends_at_the_deadline_is_not_cancelled(hook, sleep):
    hook.status.return_value = state("DONE")

    with mock.patch(f"{MOD}.time", FakeClock(5000.0)):
        event = await first_event(make_trigger(deadline=1000.0))

    assert event.outcome is BatchJobOutcome.SUCCESS
    hook.a_cancel_job.assert_not_awaited()


@pytest.mark.asyncio
async def test_deadline_is_wall_clock_so_a_restarted_trigger_times_out_at_once(hook, sleep):
    hook.status.return_value = state("RUNNING")
    _, kwargs = make_trigger(deadline=1000.0).serialize()

    with mock.patch(f"{MOD}.time", FakeClock(5000.0)):
        event = await first_event(SnowflakeBatchInferenceJobTrigger(**kwargs))

    assert event.outcome is BatchJobOutcome.TIMEOUT
    # No wait for a deadline long past: one last look at the job, then cancel it.
    assert sleep.await_args_list == [mock.call(0.0)]
    hook.status.assert_called_once_with(JOB)
    hook.a_cancel_job.assert_awaited_once_with(JOB)


@pytest.mark.asyncio
async def test_deadline_without_cancel_leaves_the_job_running(hook, sleep):
    hook.status.return_value = state("RUNNING")
    with mock.patch(f"{MOD}.time", FakeClock(5000.0)):
        event = await first_event(make_trigger(deadline=1000.0, cancel_on_timeout=False))

    assert event.outcome is BatchJobOutcome.TIMEOUT and "left running" in event.message
    hook.a_cancel_job.assert_not_awaited()


@pytest.mark.asyncio
async def test_triggerer_stopping_the_trigger_closes_the_hook_and_leaves_the_job_running(hook):
    """A triggerer that stops watching (restart, reassignment) cancels run()'s task, then calls cleanup()."""
    polled = threading.Event()  # the shared poller asks from its thread

    def running(job_id):
        polled.set()
        return state("RUNNING")

    hook.status.side_effect = running
    trigger = make_trigger(poll_interval=0.01)
    watching = asyncio.create_task(anext(trigger.run()))
    assert await asyncio.to_thread(polled.wait, 30)

    watching.cancel()
    with pytest.raises(asyncio.CancelledError):
        await watching
    await trigger.cleanup()

    hook.close.assert_called_once_with()  # the last trigger leaving the shared poller released its session
    hook.a_cancel_job.assert_not_awaited()  # the job keeps running for the next triggerer


@pytest.mark.asyncio
async def test_on_kill_cancels_the_job(hook):
    await make_trigger().on_kill()
    hook.a_cancel_job.assert_awaited_once_with(JOB)
    hook.close.assert_called_once_with()


@pytest.mark.asyncio
async def test_on_kill_respects_cancel_on_kill(hook):
    await make_trigger(cancel_on_kill=False).on_kill()
    hook.a_cancel_job.assert_not_awaited()


@pytest.mark.asyncio
async def test_polls_never_block_the_event_loop(sleep):
    """The real hook's async method runs the blocking status call in a thread."""
    loop_thread_ids: set[int] = set()

    def blocking_states(self, job_ids):
        loop_thread_ids.add(threading.get_ident())
        return {job_id: state("DONE") for job_id in job_ids}

    with (
        mock.patch.object(SnowflakeBatchInferenceHook, "get_job_states", blocking_states),
        mock.patch.object(SnowflakeBatchInferenceHook, "close"),
        mock.patch.object(SnowflakeBatchInferenceHook, "get_connection"),
    ):
        event = await first_event(make_trigger())

    assert event.outcome is BatchJobOutcome.SUCCESS
    assert loop_thread_ids and threading.get_ident() not in loop_thread_ids


@pytest.mark.asyncio
async def test_transient_errors_until_the_deadline_end_in_timeout_not_error(hook, sleep):
    clock = FakeClock(1000.0)

    async def advance(seconds: float) -> None:
        clock.now += seconds

    sleep.side_effect = advance
    hook.status.side_effect = ConnectionResetByPeer("reset")

    with mock.patch(f"{MOD}.time", clock):
        event = await first_event(make_trigger(deadline=1100.0))

    assert event.outcome is BatchJobOutcome.TIMEOUT
    hook.a_cancel_job.assert_awaited_once_with(JOB)
    # Backoff 10, 20, 40, then cut to the 30 s left before the deadline.
    assert [c.args[0] for c in sleep.await_args_list] == [10.0, 20.0, 40.0, 30.0]


@pytest.mark.asyncio
@pytest.mark.parametrize("ending", ["done", "deadline", "kill"])
async def test_connection_is_read_where_sdk_calls_reach_the_event_loop(ending):
    """Airflow 3.1/3.2.1's triggerer dies when a trigger makes a sync SDK call (a connection look-up)
    from a plain worker thread (apache/airflow#64620): its comms answer out of order. Airflow's
    guidance is ``sync_to_async``, whose threads route SDK calls back to the event loop. Every look-up
    happens there, and the hooks' threads (status, cancel, close) never look the connection up."""
    from asgiref.sync import SyncToAsync

    lookups: list[bool] = []
    conn = mock.Mock(conn_id="sf", conn_type="snowflake_batch_local")

    def get_connection(conn_id):
        # Set only in a thread started by sync_to_async from a running event loop.
        lookups.append(getattr(SyncToAsync.threadlocal, "main_event_loop", None) is not None)
        return conn

    built = []

    class Hook(SnowflakeBatchInferenceHook):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            built.append(self)

        def get_job_states(self, job_ids):
            self.get_connection(self.snowflake_conn_id)  # what the backend's first use does
            return {j: state("RUNNING" if ending != "done" else "DONE") for j in job_ids}

        def cancel_job(self, job_id):
            self.get_connection(self.snowflake_conn_id)

        def close(self):
            pass

    with (
        mock.patch.object(SnowflakeBatchInferenceHook, "get_connection", side_effect=get_connection),
        mock.patch(f"{MOD}.SnowflakeBatchInferenceHook", Hook),
    ):
        deadline = time.time() + 0.3 if ending == "deadline" else None
        t = make_trigger(poll_interval=0.05, deadline=deadline)
        if ending == "kill":
            task = asyncio.create_task(first_event(t))
            await asyncio.sleep(0.2)
            task.cancel()
            await t.on_kill()
        else:
            await first_event(t)

    assert built and all(h._connection is conn for h in built)
    assert lookups == [True] * len(lookups) and len(lookups) >= 1
