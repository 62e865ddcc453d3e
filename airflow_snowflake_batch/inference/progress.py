"""When a waiting task logs a running job's progress, and what it says (no Airflow imports).

A wait (the hook's ``wait_for_job`` on a worker, the trigger on the triggerer) keeps one
:class:`ProgressLog` per job. :meth:`ProgressLog.due` allows one progress look-up per ``interval``
(a minute by default): each look-up is one extra backend call (local: a folder read; Snowflake: one
``LIST`` of the job's folder), so 1,000 deferred jobs cost at most 1,000 extra calls a minute, however
short their poll interval. The first look comes one interval after the wait began: a job that ends
sooner costs nothing extra.

The time left is the rate between the first and the latest look (rows or files per second) applied
to what remains; it is None until two looks saw the count grow, and always None when the total is
unknown (Snowflake tells the files written so far, not how many will come).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

#: Seconds between two progress lines of one job (at most one extra backend call per job per interval).
PROGRESS_INTERVAL = 60.0


@dataclass
class ProgressLog:
    """The progress look-ups of one job's wait.

    :param started: When the wait began (seconds, on the caller's clock).
    :param interval: Seconds between look-ups; the first is due one interval after ``started``.
    """

    started: float
    interval: float = PROGRESS_INTERVAL
    _next: float = field(init=False)
    _first: tuple[float, int] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if not 0 < self.interval < math.inf:
            raise ValueError(
                f"The progress interval must be a positive number of seconds, got {self.interval!r}."
            )
        self._next = self.started + self.interval

    def due(self, now: float) -> bool:
        """Whether a look-up is due; True at most once per interval (it books the next one)."""
        if now < self._next:
            return False
        # From now, not from the missed slot: a wait that checked late does not catch up with a burst.
        self._next = now + self.interval
        return True

    def seconds_left(self, now: float, done: int, total: int | None) -> float | None:
        """The estimated seconds left at ``now`` with ``done`` of ``total`` (records the first look)."""
        if self._first is None or done < self._first[1]:
            self._first = (now, done)  # a count that went down (a restarted job) starts a new baseline
            return None
        if total is None:
            return None
        first_time, first_done = self._first
        if done <= first_done or now <= first_time:
            return None
        rate = (done - first_done) / (now - first_time)
        return max(0.0, (total - done) / rate)

    def line(self, job_id: str, now: float, done: int, total: int | None, unit: str) -> str:
        """The log line for a look-up (call once per :meth:`due` that returned True)."""
        left = self.seconds_left(now, done, total)
        if total is None:
            text = f"Job {job_id}: {done:,} {unit} written so far (the total is not known, so no time-left estimate)."
            return text
        percent = f" ({100 * done / total:.0f}%)" if total > 0 else ""
        eta = "time left not known yet" if left is None else f"about {format_duration(left)} left"
        return f"Job {job_id}: {done:,} of {total:,} {unit} scored{percent}; {eta}."


def format_duration(seconds: float) -> str:
    """Seconds as ``1h02m``, ``3m20s`` or ``45s`` (rounded up: an estimate should not promise too early).

    >>> format_duration(200), format_duration(3720), format_duration(44.2)
    ('3m20s', '1h02m', '45s')
    """
    whole = math.ceil(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"
