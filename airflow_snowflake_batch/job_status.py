"""States of a batch inference job, as Snowflake reports them, and how the provider reads them."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum

log = logging.getLogger(__name__)


class BatchJobStatus(str, Enum):
    """A job service's status: DESCRIBE SERVICE's documented list, plus ``snowflake.ml.jobs``' own
    (``CANCELLING``, ``CANCELLED``; snowflake-ml's ``ServiceStatus`` also lists ``SUSPENDING``,
    ``SUSPENDED`` and ``DELETING``).

    A suspended job service (``ALTER SERVICE ... SUSPEND``, or its compute pool suspended) makes no
    progress until someone resumes it, so waiting on it would wait forever: ``SUSPENDING`` and
    ``SUSPENDED`` end the wait as a failure that says how to resume. A job service being dropped
    (``DELETING``) ends like a ``DELETED`` one: cancelled.
    """

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    CANCELLING = "CANCELLING"
    SUSPENDING = "SUSPENDING"
    SUSPENDED = "SUSPENDED"
    DELETING = "DELETING"
    DONE = "DONE"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    DELETED = "DELETED"
    # A value this provider does not know yet: treated as still running, never as an outcome.
    UNKNOWN = "UNKNOWN"

    @classmethod
    def parse(cls, value: object) -> BatchJobStatus:
        text = str(getattr(value, "value", value) or "").strip().upper()
        try:
            return cls(text)
        except ValueError:
            log.warning("Unknown batch job status %r: treating it as not finished.", value)
            return cls.UNKNOWN

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL

    @property
    def is_active(self) -> bool:
        return not self.is_terminal

    @property
    def is_success(self) -> bool:
        return self is BatchJobStatus.DONE

    @property
    def is_cancelled(self) -> bool:
        """Cancelled or dropped (``snowflake.ml.jobs`` reports CANCELLED; DESCRIBE SERVICE DELETED)."""
        return self in (BatchJobStatus.CANCELLED, BatchJobStatus.DELETED, BatchJobStatus.DELETING)

    @property
    def hint(self) -> str:
        """What a user can do about a job that ended in this status ('' when the status says it all)."""
        if self in (BatchJobStatus.SUSPENDING, BatchJobStatus.SUSPENDED):
            return (
                "The job service was suspended (ALTER SERVICE ... SUSPEND, or its compute pool was "
                "suspended): it makes no progress and its results are incomplete. Resume it with "
                "ALTER SERVICE <job> RESUME and clear the task to re-attach to it, or clear the task to "
                "submit a new job."
            )
        return ""


_TERMINAL = frozenset(
    {
        BatchJobStatus.DONE,
        BatchJobStatus.FAILED,
        BatchJobStatus.CANCELLED,
        BatchJobStatus.INTERNAL_ERROR,
        BatchJobStatus.DELETED,
        # Never waited on: see the class docstring.
        BatchJobStatus.SUSPENDING,
        BatchJobStatus.SUSPENDED,
        BatchJobStatus.DELETING,
    }
)


@dataclass(frozen=True)
class JobState:
    """A job's status with the backend's message about it (empty when there is none)."""

    job_id: str
    status: BatchJobStatus
    message: str = ""
