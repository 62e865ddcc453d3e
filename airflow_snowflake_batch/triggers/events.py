"""The one event a batch job trigger fires, and how operators read it back."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any

from airflow_snowflake_batch.exceptions import BatchJobError
from airflow_snowflake_batch.job_status import BatchJobStatus, JobState


class BatchJobOutcome(str, Enum):
    """How waiting for a job ended."""

    SUCCESS = "success"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"
    # The trigger itself could not watch the job (an unexpected, non-transient error).
    ERROR = "error"

    @classmethod
    def for_status(cls, status: BatchJobStatus) -> BatchJobOutcome:
        """The outcome of a job that reached a terminal status."""
        if status.is_success:
            return cls.SUCCESS
        if status.is_cancelled:
            return cls.CANCELLED
        return cls.FAILED


@dataclass(frozen=True)
class BatchJobEvent:
    """The payload of the trigger's single ``TriggerEvent``: JSON-safe via :meth:`to_dict`."""

    outcome: BatchJobOutcome
    job_id: str
    job_status: BatchJobStatus
    message: str = ""

    @classmethod
    def from_state(cls, state: JobState) -> BatchJobEvent:
        return cls(BatchJobOutcome.for_status(state.status), state.job_id, state.status, state.message)

    @property
    def is_success(self) -> bool:
        return self.outcome is BatchJobOutcome.SUCCESS

    def to_dict(self) -> dict[str, str]:
        data = asdict(self)
        data["outcome"] = self.outcome.value
        data["job_status"] = self.job_status.value
        return data

    @classmethod
    def from_dict(cls, event: Any, *, task: str = "task") -> BatchJobEvent:
        """Parse a trigger event, failing loudly on anything but a complete, well-formed payload.

        A missing or malformed event must never pass for success: the operator would report a job
        it never saw finish.
        """
        if not isinstance(event, dict):
            raise BatchJobError(
                f"{task} resumed with event {event!r}, expected a dict from "
                "SnowflakeBatchInferenceJobTrigger. The job's outcome is unknown; check the job "
                "before retrying."
            )
        missing = sorted({"outcome", "job_id", "job_status"} - event.keys())
        if missing:
            raise BatchJobError(f"{task} resumed with an event missing {', '.join(missing)}: {event!r}.")
        try:
            outcome = BatchJobOutcome(event["outcome"])
            status = BatchJobStatus(event["job_status"])
        except ValueError as exc:
            raise BatchJobError(f"{task} resumed with a malformed event {event!r}: {exc}.") from None
        job_id, message = event["job_id"], event.get("message") or ""
        if not isinstance(job_id, str) or not job_id or not isinstance(message, str):
            raise BatchJobError(f"{task} resumed with a malformed event {event!r}: job_id must be a string.")
        return cls(outcome, job_id, status, message)
