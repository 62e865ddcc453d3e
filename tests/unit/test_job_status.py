"""What each documented job status means to the provider: never a silent wait."""

from __future__ import annotations

import pytest

from airflow_snowflake_batch.exceptions import BatchJobError
from airflow_snowflake_batch.job_status import BatchJobStatus
from airflow_snowflake_batch.triggers.events import BatchJobEvent, BatchJobOutcome
from airflow_snowflake_batch.utils.job_wait import raise_for_outcome

# DESCRIBE SERVICE's documented statuses (Snowflake's DESCRIBE SERVICE page) and snowflake-ml's own.
DOCUMENTED = [
    "PENDING",
    "RUNNING",
    "FAILED",
    "DONE",
    "SUSPENDING",
    "SUSPENDED",
    "DELETING",
    "DELETED",
    "INTERNAL_ERROR",
]
ML_JOBS = ["CANCELLING", "CANCELLED"]


@pytest.mark.parametrize("text", DOCUMENTED + ML_JOBS)
def test_every_documented_status_is_known(text: str) -> None:
    assert BatchJobStatus.parse(text) is not BatchJobStatus.UNKNOWN
    assert BatchJobStatus.parse(text.lower()).value == text


def test_snowflake_mls_own_status_lists_are_covered() -> None:
    """snowflake-ml's service statuses and its jobs' status literal: a new value fails here first."""
    import typing

    from snowflake.ml.jobs._utils.type_utils import JOB_STATUS
    from snowflake.ml.model._client.sql.service import ServiceStatus

    known = {s.value for s in BatchJobStatus}
    assert {s.value for s in ServiceStatus} <= known
    assert set(typing.get_args(JOB_STATUS)) <= known


@pytest.mark.parametrize("text", ["SUSPENDING", "SUSPENDED"])
def test_a_suspended_job_ends_the_wait_as_a_failure_saying_how_to_resume(text: str) -> None:
    status = BatchJobStatus(text)
    assert status.is_terminal and not status.is_success and not status.is_cancelled
    event = BatchJobEvent(BatchJobOutcome.for_status(status), "ML.PUBLIC.J", status)
    with pytest.raises(BatchJobError, match=r"ended SUSPEND.*ALTER SERVICE <job> RESUME and clear the task"):
        raise_for_outcome(event)


@pytest.mark.parametrize("text", ["CANCELLED", "DELETED", "DELETING"])
def test_cancelled_or_dropped_jobs_end_cancelled(text: str) -> None:
    status = BatchJobStatus(text)
    assert status.is_terminal and status.is_cancelled
    assert BatchJobOutcome.for_status(status) is BatchJobOutcome.CANCELLED


def test_only_pending_running_cancelling_and_unknown_are_waited_on() -> None:
    active = {s for s in BatchJobStatus if s.is_active}
    assert active == {
        BatchJobStatus.PENDING,
        BatchJobStatus.RUNNING,
        BatchJobStatus.CANCELLING,
        BatchJobStatus.UNKNOWN,
    }
