"""Which finished jobs and old output folders a retention run removes: pure decisions, no I/O.

The hook lists a schema's jobs and an output location's files, asks :func:`plan_cleanup` what to
remove, and removes it (or only reports it in a dry run). The rules protect running work:

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

from dataclasses import dataclass
from typing import TYPE_CHECKING

from airflow_snowflake_batch.backends.base import TEMPORARY_INPUT_FOLDER

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

    from airflow_snowflake_batch.backends.base import JobInfo, StageFile
    from airflow_snowflake_batch.identifiers import StageLocation


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
