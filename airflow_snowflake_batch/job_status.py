"""States of a batch inference job, as Snowflake reports them, and how the provider reads them."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum

log = logging.getLogger(__name__)


class BatchJobStatus(str, Enum):
    """A job service's status (``snowflake.ml.jobs`` plus the SPCS transitional states)."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    CANCELLING = "CANCELLING"
    SUSPENDING = "SUSPENDING"
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


_TERMINAL = frozenset(
    {
        BatchJobStatus.DONE,
        BatchJobStatus.FAILED,
        BatchJobStatus.CANCELLED,
        BatchJobStatus.INTERNAL_ERROR,
        BatchJobStatus.DELETED,
    }
)


@dataclass(frozen=True)
class JobState:
    """A job's status with the backend's message about it (empty when there is none)."""

    job_id: str
    status: BatchJobStatus
    message: str = ""
