"""Batch job names per try, and whether a try re-attaches to a job, reuses one, or submits its own.

The job of try ``n`` of a task is named ``<job_name>`` (n = 1) or ``<job_name>_T<n>``, so a retry finds
what earlier tries submitted. :func:`decide` is the whole re-attach policy as one function of what exists;
the hook (:meth:`~airflow_snowflake_batch.hooks.batch_inference.SnowflakeBatchInferenceHook.start_batch_job`)
looks the jobs up, calls it, and acts on the decision.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from airflow_snowflake_batch.exceptions import InvalidIdentifierError
from airflow_snowflake_batch.identifiers import Identifier, ObjectName
from airflow_snowflake_batch.job_status import BatchJobStatus

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_snowflake_batch.backends.base import BatchJobSpec
    from airflow_snowflake_batch.identifiers import StageLocation
    from airflow_snowflake_batch.inference.fingerprint import Reuse
    from airflow_snowflake_batch.job_status import JobState


@dataclass(frozen=True)
class JobStart:
    """What :meth:`~airflow_snowflake_batch.hooks.batch_inference.SnowflakeBatchInferenceHook.start_batch_job` did."""

    job_id: str
    job_name: str
    output_location: StageLocation
    state: JobState
    reattached: bool
    # A finished job whose results stand for this run (``rescore``: nothing changed); nothing was submitted.
    reused: bool = False

    @classmethod
    def of(cls, spec: BatchJobSpec, state: JobState, *, reattached: bool, reused: bool = False) -> JobStart:
        """The start of the job ``spec`` names, in ``state``."""
        return cls(
            state.job_id, spec.job_name.name.value, spec.job_output_location, state, reattached, reused
        )


class Action(enum.Enum):
    """What a try does about its batch job."""

    REATTACH = "reattach"  # an earlier try's job is still running: wait for it
    REUSE = "reuse"  # an earlier try's job ended DONE (with _SUCCESS, or its status standing in): its results stand
    SUBMIT = "submit"  # submit a new job under this try's name


@dataclass(frozen=True)
class JobDecision:
    """The decision of :func:`decide`.

    :param action: What to do.
    :param job_name: The job to re-attach to or reuse, or the name to submit under.
    :param state: The existing job's state (REATTACH, REUSE), else None.
    :param drop: SUBMIT: earlier tries' names that hold no job, dropped before submitting (what a
        submission killed half-way may have left behind).
    :param stale: SUBMIT: the finished, unsuccessful job already under this try's own name, whose
        job and output folder are cleared first.
    :param reason: SUBMIT: why an earlier try's job is not used (for the log); empty when none exists.
        REUSE: why its results stand (the fingerprint check's words), when one was made.
    :param without_marker: REUSE: the job ended DONE but its folder lacks ``_SUCCESS``; its status
        stands in for the marker (snowflake-ml documents no ``_SUCCESS``), which the caller logs as a WARNING.
    """

    action: Action
    job_name: ObjectName
    state: JobState | None = None
    drop: tuple[ObjectName, ...] = ()
    stale: JobState | None = None
    reason: str = ""
    without_marker: bool = False


def job_names(base: ObjectName, try_number: int) -> list[ObjectName]:
    """The job name of each try up to ``try_number``: NAME, NAME_T2, NAME_T3...

    >>> [n.sql for n in job_names(ObjectName.parse("DB.SC.JOB"), 3)]
    ['DB.SC.JOB', 'DB.SC.JOB_T2', 'DB.SC.JOB_T3']
    """
    names = [base]
    for n in range(2, max(try_number, 1) + 1):
        try:
            names.append(replace(base, name=Identifier(f"{base.name.value}_T{n}")))
        except InvalidIdentifierError as exc:
            raise InvalidIdentifierError(
                f"Invalid job_name {base.name.value!r}: try {n} names its job {base.name.value}_T{n}, "
                f"which is not a valid identifier ({exc}). Choose a shorter job_name."
            ) from exc
    return names


def decide(
    names: list[ObjectName],
    lookup: Callable[[ObjectName], JobState | None],
    has_success: Callable[[ObjectName], bool],
    reusable: Callable[[ObjectName], Reuse] | None = None,
) -> JobDecision:
    """Whether this try re-attaches to an earlier try's job, reuses its results, or submits a new job.

    ``names`` are the tries' job names, oldest first (:func:`job_names`), the last one this try's own.
    ``lookup`` gives the state of the job of a name (None: no such job); it is called newest name first,
    and not past the newest name that holds a job. ``has_success`` tells whether a name's output folder
    holds ``_SUCCESS``; it is called only for a job that ended DONE. ``reusable`` (the ``rescore`` rule of
    :func:`~airflow_snowflake_batch.inference.fingerprint.may_reuse`) tells whether such a job's results
    may stand for this run; it is called only for a job DONE with ``_SUCCESS``.

    The newest existing job decides: active → re-attach (whatever its fingerprint: its results are not
    there yet, and a later run compares them); DONE and reusable → reuse (without ``_SUCCESS`` too: the
    service's DONE stands in for the marker, ``without_marker``); DONE and changed → a new job under this
    try's name; failed, cancelled, being cancelled (``CANCELLING``: a cleared or marked try's kill is
    stopping it) or lost → a new job under this try's name. Names looked up that hold no job are dropped
    before submitting; a finished job under this try's own name is cleared first.
    """
    target = names[-1]
    missing: list[ObjectName] = []
    own: JobState | None = None
    reason = ""
    for candidate in reversed(names):
        state = lookup(candidate)
        if state is None:
            missing.append(candidate)
            continue
        if state.status.is_active and state.status is not BatchJobStatus.CANCELLING:
            return JobDecision(Action.REATTACH, candidate, state)
        if state.status.is_success:
            check = reusable(candidate) if reusable is not None else None
            if check is None or check.reuse:
                return JobDecision(
                    Action.REUSE,
                    candidate,
                    state,
                    reason=check.reason if check else "",
                    without_marker=not has_success(candidate),
                )
            reason = f"Job {state.job_id} finished but is not reused: {check.reason}"
            own = state if candidate == target else None
            break
        reason = "is being cancelled" if state.status.is_active else f"ended {state.status.value}"
        reason = f"Job {state.job_id} of an earlier try {reason}"
        own = state if candidate == target else None
        break
    return JobDecision(
        Action.SUBMIT,
        target,
        drop=tuple(n for n in missing if n != target),  # newest first, as looked up
        stale=own,
        reason=reason,
    )
