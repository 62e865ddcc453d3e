"""Which finished jobs and old output folders a retention run removes: pure decisions, no I/O.

The hook checks its arguments (:func:`check_older_than`, :func:`check_job_name_prefix`,
:func:`job_schema`), lists a schema's jobs and an output location's files, asks :func:`plan_cleanup`
what to remove, and removes it (or only reports it in a dry run). The rules protect running work:

- only jobs and job folders whose names start with the job name prefix are candidates (by default
  ``AIRFLOW_BATCH_``, the start of the names the batch operator makes), so other services and other
  data under the output location are never touched;
- a job is dropped only when it has ended (``DONE``, ``FAILED``...) and was created before the cutoff;
  a job in a state this provider does not know counts as running;
- a job folder (``<output>/<JOB_NAME>/``) goes when its newest file is older than the cutoff and no
  running job of that name exists;
- a ``_snowflake_temporary/<id>/`` copy (the input Snowflake copies for a table or query job) goes
  when its newest file is older than the cutoff and no running job was created after it was written
  (such a job may still read it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from airflow_snowflake_batch.backends.base import TEMPORARY_INPUT_FOLDER
from airflow_snowflake_batch.exceptions import InputValidationError
from airflow_snowflake_batch.identifiers import ObjectName

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

    from airflow_snowflake_batch.backends.base import JobInfo, StageFile
    from airflow_snowflake_batch.identifiers import Identifier, StageLocation

# A job name prefix, compared with stored names: the characters of an unquoted identifier.
_JOB_PREFIX = re.compile(r"[A-Za-z0-9_$]+")


@dataclass(frozen=True)
class CleanupPlan:
    """What a retention run removes, and what it keeps because a job is still running."""

    drop_jobs: tuple[str, ...]  # job ids
    remove_folders: tuple[StageLocation, ...]
    kept_running: tuple[str, ...]  # ids of running jobs (and their folders) left alone

    def to_dict(self, *, dry_run: bool) -> dict[str, object]:
        """The operator's XCom: JSON-safe, folders as stage locations."""
        return {
            "dry_run": dry_run,
            "dropped_jobs": list(self.drop_jobs),
            "removed_folders": [f.sql for f in self.remove_folders],
            "kept_running_jobs": list(self.kept_running),
        }


def plan_cleanup(
    *,
    jobs: Iterable[JobInfo],
    files: Iterable[StageFile],
    output_location: StageLocation,
    cutoff: datetime,
    job_name_prefix: str,
) -> CleanupPlan:
    """Decide what goes: ``jobs`` of the job schema, ``files`` listed under ``output_location``."""
    jobs = list(jobs)
    running = [j for j in jobs if not j.status.is_terminal]
    running_names = {j.name for j in running}
    newest_running = max((j.created_on for j in running), default=None)

    remove: list[StageLocation] = []
    for folder, newest in sorted(folder_ages(files).items()):
        if newest >= cutoff:
            continue
        if folder.startswith(TEMPORARY_INPUT_FOLDER + "/"):
            if newest_running is not None and newest_running >= newest:
                continue
        elif folder in running_names or not folder.startswith(job_name_prefix):
            continue
        location = output_location
        for part in folder.split("/"):
            location = location.child(part)
        remove.append(location)

    return CleanupPlan(
        drop_jobs=tuple(
            j.job_id
            for j in jobs
            if j.status.is_terminal and j.created_on < cutoff and j.name.startswith(job_name_prefix)
        ),
        remove_folders=tuple(remove),
        kept_running=tuple(j.job_id for j in running),
    )


def folder_ages(files: Iterable[StageFile]) -> dict[str, datetime]:
    """The newest file time of each job folder (``JOB/``) and temporary copy (``_snowflake_temporary/ID/``).

    Files directly under the output location belong to no job and are never removed.
    """
    newest: dict[str, datetime] = {}
    for f in files:
        parts = f.path.split("/")
        depth = 2 if parts[0] == TEMPORARY_INPUT_FOLDER else 1
        if len(parts) <= depth:
            continue
        folder = "/".join(parts[:depth])
        if folder not in newest or f.last_modified > newest[folder]:
            newest[folder] = f.last_modified
    return newest


def check_older_than(older_than: timedelta) -> None:
    """A retention age is not negative (zero removes every finished job and idle folder)."""
    if older_than < timedelta(0):
        raise InputValidationError(f"older_than must not be negative, got {older_than}.")


def check_job_name_prefix(job_name_prefix: str) -> None:
    """The prefix is the start of an unquoted job name, as stored (so ``startswith`` compares like for like)."""
    if not isinstance(job_name_prefix, str) or not _JOB_PREFIX.fullmatch(job_name_prefix):
        raise InputValidationError(
            "job_name_prefix must be the start of a job name (letters, digits, _ or $), "
            f"got {job_name_prefix!r}."
        )


def job_schema(
    job_schema: str | None, default_database: Identifier | None, default_schema: Identifier | None
) -> tuple[Identifier, Identifier]:
    """The ``DATABASE, SCHEMA`` of the jobs: ``job_schema`` (``SCHEMA`` or ``DATABASE.SCHEMA``) or the defaults.

    >>> [p.value for p in job_schema("ml.jobs", None, None)]
    ['ML', 'JOBS']
    >>> from airflow_snowflake_batch.identifiers import Identifier
    >>> [p.value for p in job_schema("jobs", Identifier("ML"), Identifier("PUBLIC"))]
    ['ML', 'JOBS']
    """
    database, schema = default_database, default_schema
    if job_schema:
        # "DATABASE.SCHEMA" parses as an object name whose "schema" part is the database.
        parsed = ObjectName.parse(job_schema, what="job_schema")
        if parsed.database is not None:
            raise InputValidationError(f"job_schema must be SCHEMA or DATABASE.SCHEMA, got {job_schema!r}.")
        database, schema = parsed.schema or database, parsed.name
    if database is None or schema is None:
        raise InputValidationError(
            "job_schema must name the jobs' DATABASE.SCHEMA: the connection sets no default "
            f"database and schema (got job_schema={job_schema!r})."
        )
    return database, schema
