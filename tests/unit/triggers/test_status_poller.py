"""The triggers of one event loop share one status poller per connection: one session, one call per tick."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from unittest import mock

import pytest
from airflow.triggers.base import TriggerEvent

from airflow_snowflake_batch.job_status import BatchJobStatus, JobState
from airflow_snowflake_batch.triggers import status_poller
from airflow_snowflake_batch.triggers.batch_job import SnowflakeBatchInferenceJobTrigger
from airflow_snowflake_batch.triggers.events import BatchJobEvent, BatchJobOutcome

MOD = "airflow_snowflake_batch.triggers.batch_job"
# Seconds of the virtual clock below: the triggers' waits take no real time. Only the poller's gather
# window (50 ms of the event loop's own clock) and its thread run in real time.
INTERVAL = 30.0


class VirtualClock:
    """The triggers' wall clock and sleep: a sleep yields to the loop, then moves the clock to its end.

    Triggers waiting for the same tick all move it to that tick, so ticks line up as in real time.
    """

    def __init__(self) -> None:
        self.now = 1_767_225_600.0

    def time(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        end = self.now + delay
        await asyncio.sleep(0)
        self.now = max(self.now, end)


@pytest.fixture(autouse=True)
def clock():
    virtual = VirtualClock()
    with (
        mock.patch(f"{MOD}.time") as fake_time,
        mock.patch(f"{MOD}.sleep", side_effect=virtual.sleep),
    ):
        fake_time.time.side_effect = virtual.time
        yield virtual


def trigger(job: str, conn: str = "sf", **kwargs) -> SnowflakeBatchInferenceJobTrigger:
    return SnowflakeBatchInferenceJobTrigger(
        job_id=job,
        snowflake_conn_id=conn,
        poll_interval=INTERVAL,
        hook_params={"database": "ML", "query_tag": {"task_id": job}},
        **kwargs,
    )


async def event_of(t: SnowflakeBatchInferenceJobTrigger) -> BatchJobEvent:
    events = [e async for e in t.run()]
    assert len(events) == 1 and isinstance(events[0], TriggerEvent)
    return BatchJobEvent.from_dict(events[0].payload)


class Hooks(dict):
    """The hooks the triggers built, by connection; jobs end DONE at check ``done_at`` (RUNNING before)."""

    done_at = 2


@pytest.fixture
def hooks():
    from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook

    built = Hooks()
    checks: Counter[str] = Counter()

    def states(ids):
        checks.update(ids)
        return {
            j: JobState(j, BatchJobStatus.RUNNING if checks[j] < built.done_at else BatchJobStatus.DONE)
            for j in ids
        }

    def make(snowflake_conn_id, **params):
        hook = mock.create_autospec(SnowflakeBatchInferenceHook, instance=True)
        hook.params = params
        hook.get_job_states.side_effect = states
        built.setdefault(snowflake_conn_id, []).append(hook)
        return hook

    with mock.patch(f"{MOD}.SnowflakeBatchInferenceHook", side_effect=make):
        yield built


@pytest.mark.asyncio
async def test_many_triggers_share_one_session_and_one_call_per_tick(hooks):
    jobs = [f"ML.PUBLIC.JOB_{i}" for i in range(40)]

    events = await asyncio.gather(*(event_of(trigger(j)) for j in jobs))

    assert all(e.outcome is BatchJobOutcome.SUCCESS for e in events)
    (hook,) = hooks["sf"]  # one hook, so one session, for all 40 triggers
    assert "query_tag" not in hook.params  # a shared session carries no single task's tag
    calls = [sorted(c.args[0]) for c in hook.get_job_states.call_args_list]
    # Two checks per job (RUNNING, DONE): one call per tick for every job, not one per job.
    assert calls[0] == sorted(jobs) and sum(map(len, calls)) == 2 * len(jobs)
    assert len(calls) <= 4, calls
    hook.close.assert_called_once_with()  # released when the last trigger left
    assert status_poller._pollers == {}


@pytest.mark.asyncio
async def test_each_connection_has_its_own_poller(hooks):
    events = await asyncio.gather(
        event_of(trigger("ML.PUBLIC.A", conn="sf_a")), event_of(trigger("ML.PUBLIC.B", conn="sf_b"))
    )

    assert [e.job_id for e in events] == ["ML.PUBLIC.A", "ML.PUBLIC.B"]
    assert [
        set(itertools.chain(*(c.args[0] for c in h.get_job_states.call_args_list)))
        for h in (hooks["sf_a"][0], hooks["sf_b"][0])
    ] == [{"ML.PUBLIC.A"}, {"ML.PUBLIC.B"}]


@pytest.mark.asyncio
async def test_a_cancelled_trigger_leaves_the_others_polling(hooks):
    """A killed task's trigger is cancelled mid-wait; the shared session stays for the others."""
    staying = asyncio.ensure_future(event_of(trigger("ML.PUBLIC.STAYS")))
    leaving = asyncio.ensure_future(event_of(trigger("ML.PUBLIC.LEAVES")))
    for _ in range(3):  # both are waiting, before the poller's first round (50 ms away)
        await asyncio.sleep(0)
    leaving.cancel()

    assert (await staying).outcome is BatchJobOutcome.SUCCESS
    with pytest.raises(asyncio.CancelledError):
        await leaving
    (hook,) = hooks["sf"]
    asked = set(itertools.chain(*(c.args[0] for c in hook.get_job_states.call_args_list)))
    assert asked == {"ML.PUBLIC.STAYS"}
    assert status_poller._pollers == {}


@pytest.mark.asyncio
async def test_cancel_at_the_deadline_uses_the_tasks_own_tagged_session(hooks, clock):
    hooks.done_at = 1_000_000
    event = await event_of(trigger("ML.PUBLIC.SLOW", deadline=clock.now + 1.2 * INTERVAL))

    assert event.outcome is BatchJobOutcome.TIMEOUT
    status_hook, cancel_hook = hooks["sf"]
    assert "query_tag" not in status_hook.params
    assert cancel_hook.params["query_tag"] == {"task_id": "ML.PUBLIC.SLOW"}
    cancel_hook.a_cancel_job.assert_awaited_once_with("ML.PUBLIC.SLOW")
    status_hook.a_cancel_job.assert_not_awaited()
