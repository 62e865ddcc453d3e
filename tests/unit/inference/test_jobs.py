"""The re-attach policy, decided from what exists (``inference.jobs.decide``): no backend, no hook."""

from __future__ import annotations

import pytest

from airflow_snowflake_batch.exceptions import InvalidIdentifierError
from airflow_snowflake_batch.identifiers import ObjectName
from airflow_snowflake_batch.inference.jobs import Action, JobDecision, decide, job_names
from airflow_snowflake_batch.job_status import BatchJobStatus, JobState

BASE = ObjectName.parse("DB.SC.JOB")
T1, T2, T3 = job_names(BASE, 3)


def _state(name: ObjectName, status: str) -> JobState:
    return JobState(job_id=name.sql, status=BatchJobStatus(status))


class World:
    """Jobs that exist by name, and the names whose folder holds _SUCCESS; records the look-ups."""

    def __init__(self, jobs: dict[ObjectName, str], success: tuple[ObjectName, ...] = ()) -> None:
        self.jobs = {name: _state(name, status) for name, status in jobs.items()}
        self.success = success
        self.looked_up: list[ObjectName] = []
        self.success_asked: list[ObjectName] = []

    def lookup(self, name: ObjectName) -> JobState | None:
        self.looked_up.append(name)
        return self.jobs.get(name)

    def has_success(self, name: ObjectName) -> bool:
        self.success_asked.append(name)
        return name in self.success

    def decide(self, try_number: int) -> JobDecision:
        return decide(job_names(BASE, try_number), self.lookup, self.has_success)


def test_job_names_add_the_try_number_from_the_second_try() -> None:
    assert [n.sql for n in job_names(BASE, 3)] == ["DB.SC.JOB", "DB.SC.JOB_T2", "DB.SC.JOB_T3"]
    assert job_names(BASE, 0) == job_names(BASE, 1) == [BASE]


def test_a_job_name_too_long_for_its_try_suffix_is_the_providers_error_naming_job_name() -> None:
    long = ObjectName.parse("DB.SC." + "J" * 255)
    assert job_names(long, 1) == [long]
    with pytest.raises(InvalidIdentifierError, match="job_name .*_T2.*shorter job_name"):
        job_names(long, 2)


def test_nothing_exists_submits_under_this_tries_name_and_drops_the_empty_earlier_names() -> None:
    world = World({})
    decision = world.decide(3)
    assert (decision.action, decision.job_name, decision.state, decision.stale) == (
        Action.SUBMIT,
        T3,
        None,
        None,
    )
    assert decision.drop == (T2, T1)  # newest first, never this try's own name
    assert world.looked_up == [T3, T2, T1]
    assert decision.reason == ""


@pytest.mark.parametrize("status", ["PENDING", "RUNNING", "UNKNOWN"])
def test_an_active_job_of_an_earlier_try_is_reattached(status: str) -> None:
    world = World({T1: status})
    decision = world.decide(2)
    assert (decision.action, decision.job_name, decision.state) == (Action.REATTACH, T1, world.jobs[T1])
    assert world.success_asked == []


def test_done_is_reused_with_success_and_without_it_the_status_stands_in_for_the_marker() -> None:
    reused = World({T1: "DONE"}, success=(T1,)).decide(2)
    assert (reused.action, reused.job_name, reused.without_marker) == (Action.REUSE, T1, False)
    # snowflake-ml documents no _SUCCESS: a DONE service is finished, its folder is its results.
    standing_in = World({T1: "DONE"}).decide(2)
    assert (standing_in.action, standing_in.job_name, standing_in.without_marker) == (Action.REUSE, T1, True)
    assert standing_in.state is not None and standing_in.state.status is BatchJobStatus.DONE


@pytest.mark.parametrize("status", ["FAILED", "CANCELLED", "INTERNAL_ERROR", "DELETED", "CANCELLING"])
def test_an_unsuccessful_or_cancelling_earlier_job_gets_a_new_job(status: str) -> None:
    world = World({T1: status})
    decision = world.decide(2)
    assert (decision.action, decision.job_name, decision.stale) == (Action.SUBMIT, T2, None)
    assert world.success_asked == []
    assert decision.reason.startswith(f"Job {T1.sql} of an earlier try")


def test_the_newest_existing_job_decides_and_older_names_are_not_looked_up() -> None:
    world = World({T1: "RUNNING", T2: "FAILED"})
    decision = world.decide(3)
    assert (decision.action, decision.job_name) == (Action.SUBMIT, T3)
    assert world.looked_up == [T3, T2]  # T1 is older than the job that decided
    assert decision.drop == ()  # T3 is this try's own name; T1 was never looked at


def test_a_finished_job_under_this_tries_own_name_is_the_stale_one_to_clear() -> None:
    world = World({T2: "FAILED"})
    decision = world.decide(2)
    assert (decision.action, decision.job_name, decision.stale) == (Action.SUBMIT, T2, world.jobs[T2])
    assert decision.drop == ()


def test_this_tries_own_running_job_is_reattached() -> None:
    decision = World({T2: "RUNNING", T1: "FAILED"}).decide(2)
    assert (decision.action, decision.job_name) == (Action.REATTACH, T2)
