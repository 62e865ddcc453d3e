"""Batch job records of a local workspace: what a job runs, its status, its process, its log.

A job lives in ``<root>/jobs/<DB>/<SCHEMA>/<NAME>/``:

- ``job.json``: what to run (written once, before the job process starts);
- ``status.json``: ``PENDING → RUNNING → DONE | FAILED | CANCELLED``, written atomically;
- ``process.json``: pid and start time of the job process, so a job whose process died
  (``kill -9``, a reboot) reads as ``INTERNAL_ERROR`` instead of staying ``RUNNING``, and a recycled
  pid is never taken for the job;
- ``cancel.json``: written by :func:`cancel` before it kills the job, so the job reads
  ``CANCELLING`` until its process is gone and then ``CANCELLED``, never ``INTERNAL_ERROR``, whichever
  process reads the status first;
- ``submitting.json``: written before a submission prepares anything, naming the scratch input it
  will create, so the leftovers of a submission killed half-way can be removed (:func:`discard`);
- ``prepare.json``: written before the input is exported, so that the job process starts at once,
  imports its libraries and loads the model while the submitter exports; it then waits for
  ``job.json`` (the job exists only from then on) and gives up if the submitter or the folder is gone;
- ``job.log``: what the job process and its workers wrote;
- ``progress.json`` (the rows to score) and ``progress-<worker>.json`` (the rows each worker scored so
  far), written as the job scores, so a waiting task can log its progress (:func:`read_progress`);
- ``usage.json``: the job process's wall and CPU seconds (its workers' included), written when it ends.

The job process is started with ``start_new_session=True``: it outlives the submitting process
(an Airflow task, a test) and leads its own process group, which :func:`cancel` stops as a whole.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from airflow_snowflake_batch.backends.local.layout import Layout, read_json, write_json_atomic
from airflow_snowflake_batch.exceptions import WorkspacePathError
from airflow_snowflake_batch.job_status import BatchJobStatus, JobState

log = logging.getLogger(__name__)

RUNNER_MODULE = "airflow_snowflake_batch.backends.local.job_runner"
JOB_FILE = "job.json"
STATUS_FILE = "status.json"
PROCESS_FILE = "process.json"
CANCEL_FILE = "cancel.json"
SUBMITTING_FILE = "submitting.json"
PREPARE_FILE = "prepare.json"
CANCELLED_MESSAGE = "Cancelled by request."
LOG_FILE = "job.log"
PROGRESS_FILE = "progress.json"
USAGE_FILE = "usage.json"
# Seconds a job may stay PENDING with no recorded process (the submitter died right after
# starting it) before it counts as lost.
_UNRECORDED_GRACE = 60.0
_LOG_TAIL_BYTES = 1_000_000


def write_status(job_dir: Path, status: BatchJobStatus, message: str = "") -> None:
    write_json_atomic(
        job_dir / STATUS_FILE, {"status": status.value, "message": message, "updated_on": time.time()}
    )


def read_status(job_dir: Path) -> dict[str, Any]:
    return read_json(job_dir / STATUS_FILE)


def write_progress(job_dir: Path, worker: int, rows: int) -> None:
    """Record the rows ``worker`` scored so far (one file per worker: forked workers share no memory)."""
    write_json_atomic(job_dir / f"progress-{worker}.json", {"rows": rows})


def read_progress(job_dir: Path) -> tuple[int, int | None] | None:
    """The rows scored so far and the rows to score (None until the runner counted them), or None
    before the runner wrote anything. A torn or missing worker file counts as 0 rows: progress is advisory."""
    try:
        total = read_json(job_dir / PROGRESS_FILE).get("total_rows")
    except (OSError, ValueError):
        return None
    done = 0
    for path in job_dir.glob("progress-*.json"):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            done += int(read_json(path).get("rows", 0))
    return done, total


def log_line(job_dir: Path, text: str) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    # O_NOFOLLOW: a job.log planted as a symlink is refused (ELOOP), never appended to where it points.
    fd = os.open(job_dir / LOG_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "a") as handle:
        handle.write(f"{stamp} [pid {os.getpid()}] {text}\n")


def start_process(job_dir: Path) -> None:
    """Start the detached job process and record its pid and start time."""
    log = (job_dir / LOG_FILE).open("ab")
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", RUNNER_MODULE, str(job_dir)],
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            close_fds=True,
        )
    finally:
        log.close()
    try:
        created = psutil.Process(process.pid).create_time()
    except psutil.NoSuchProcess:
        created = None  # already gone: its status file tells whether it finished
    write_json_atomic(job_dir / PROCESS_FILE, {"pid": process.pid, "create_time": created})
    # Reap the child when it ends (no zombie, no ResourceWarning) if this process lives that long.
    threading.Thread(target=process.wait, name=f"reap-job-{process.pid}", daemon=True).start()


def prepare(job_dir: Path, *, workspace: Path, version_dir: str, target_method: str) -> None:
    """Start the job process before its input exists: it loads the model, then waits for ``job.json``.

    Records this (the submitting) process, so that a job process whose submitter died (killed
    mid-export) stops waiting instead of lingering.
    """
    me = psutil.Process()
    write_json_atomic(
        job_dir / PREPARE_FILE,
        {
            "workspace": str(workspace),
            "version_dir": version_dir,
            "target_method": target_method,
            "submitter": {"pid": me.pid, "create_time": me.create_time()},
        },
    )
    start_process(job_dir)


def stop_process(job_dir: Path) -> None:
    """Kill the job's process group (a prepared process whose submission failed), if it lives."""
    process = _process(job_dir)
    if process is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        psutil.wait_procs([process], timeout=30)


def alive(record: dict[str, Any]) -> bool:
    """Whether the process of a ``{"pid", "create_time"}`` record still runs (not a recycled pid)."""
    try:
        process = psutil.Process(record["pid"])
        return abs(process.create_time() - record["create_time"]) <= 0.01 and (
            process.status() != psutil.STATUS_ZOMBIE
        )
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _process(job_dir: Path) -> psutil.Process | None:
    """The job process if it is still alive (same pid and start time, not a zombie)."""
    try:
        record = read_json(job_dir / PROCESS_FILE)
        process = psutil.Process(record["pid"])
        if record["create_time"] is None or abs(process.create_time() - record["create_time"]) > 0.01:
            return None
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return process
    except (FileNotFoundError, psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def state(job_id: str, job_dir: Path, *, write: bool = True) -> JobState | None:
    """The job's state; a job whose process vanished without a verdict becomes INTERNAL_ERROR.

    A job whose cancel was requested reads ``CANCELLING`` while its process lives and ``CANCELLED``
    once it is gone: a reader racing :func:`cancel` between the kill and the status write must not
    take the kill for a crash.

    ``write=False`` returns that verdict without writing it: a listing (the cleanup's, also in a
    dry run) only reads, so it never changes a job folder, wherever that folder is.
    """
    if not (job_dir / JOB_FILE).is_file() or not (job_dir / STATUS_FILE).is_file():
        return None
    record = read_status(job_dir)
    status = BatchJobStatus.parse(record["status"])
    if status.is_active and _process(job_dir) is None:
        if not (job_dir / PROCESS_FILE).is_file() and time.time() - record["updated_on"] < _UNRECORDED_GRACE:
            return JobState(job_id, status, record["message"])
        # The process may have written its verdict and exited since the first read.
        record = read_status(job_dir)
        status = BatchJobStatus.parse(record["status"])
        if status.is_active:
            if (job_dir / CANCEL_FILE).is_file():
                status, record["message"] = BatchJobStatus.CANCELLED, CANCELLED_MESSAGE
            else:
                status = BatchJobStatus.INTERNAL_ERROR
                record["message"] = (
                    "The job process exited without reporting a result (killed or crashed); "
                    f"see the job log {job_dir / LOG_FILE}."
                )
            if write:
                write_status(job_dir, status, record["message"])
                log_line(job_dir, f"Marked {status.value}: {record['message']}")
    elif status.is_active and (job_dir / CANCEL_FILE).is_file():
        return JobState(job_id, BatchJobStatus.CANCELLING, "Cancel requested.")
    return JobState(job_id, status, record["message"])


def cancel(job_id: str, job_dir: Path, layout: Layout) -> None:
    """Record the cancel request, stop the job's process group, mark it CANCELLED.

    A finished job is left as it is. The request is recorded before the kill so that a concurrent
    :func:`state` reads CANCELLING/CANCELLED, never INTERNAL_ERROR.
    """
    current = state(job_id, job_dir)
    if current is None or current.status.is_terminal:
        return
    write_json_atomic(job_dir / CANCEL_FILE, {"requested_on": time.time(), "pid": os.getpid()})
    process = _process(job_dir)
    if process is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        psutil.wait_procs([process], timeout=30)
    record = read_status(job_dir)
    if BatchJobStatus.parse(record["status"]).is_active:
        write_status(job_dir, BatchJobStatus.CANCELLED, CANCELLED_MESSAGE)
        log_line(job_dir, CANCELLED_MESSAGE)
    remove_scratch_input(job_dir, layout)


def begin_submission(job_dir: Path, scratch_input: Path | None) -> None:
    """Create the job folder with a record of the scratch input the submission is about to write."""
    job_dir.mkdir(parents=True)
    write_json_atomic(
        job_dir / SUBMITTING_FILE, {"scratch_input": str(scratch_input) if scratch_input else None}
    )


def end_submission(job_dir: Path) -> None:
    (job_dir / SUBMITTING_FILE).unlink(missing_ok=True)


def discard(job_dir: Path, layout: Layout) -> None:
    """Remove a job folder and the scratch input its job or unfinished submission made."""
    import shutil

    remove_scratch_input(job_dir, layout)
    shutil.rmtree(job_dir, ignore_errors=True)


def remove_scratch_input(job_dir: Path, layout: Layout) -> None:
    """Delete the copy of a table/query input made at submit time (never user files).

    The path comes from a file of the job folder, which anyone with write access to the workspace
    can edit: it is removed only if it lies inside the workspace (and is not the workspace itself);
    otherwise it is left alone with a warning, and the job folder can still be dropped.
    """
    import shutil

    for record_file in (job_dir / JOB_FILE, job_dir / SUBMITTING_FILE):
        if not record_file.is_file() or not (scratch := read_json(record_file).get("scratch_input")):
            continue
        try:
            target = layout.confine(str(scratch))
        except WorkspacePathError as exc:
            log.warning("Not removing the scratch input of job record %s: %s", record_file, exc)
            continue
        if target == layout.root:
            log.warning(
                "Not removing the scratch input of job record %s: it names the workspace.", record_file
            )
            continue
        shutil.rmtree(target, ignore_errors=True)


def logs(job_dir: Path) -> str:
    path = job_dir / LOG_FILE
    if not path.is_file():
        return ""
    with path.open("rb") as handle:
        handle.seek(max(0, path.stat().st_size - _LOG_TAIL_BYTES))
        return handle.read().decode(errors="replace")
