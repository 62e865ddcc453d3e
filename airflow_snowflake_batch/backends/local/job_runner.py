"""The process of one local batch job: ``python -m airflow_snowflake_batch.backends.local.job_runner <job_dir>``.

It behaves like an SPCS batch inference job. The input Parquet files are cut into work units (one
per row group; a table or query input is exported in row groups of 131,072 rows), shared
round-robin by ``replicas × num_workers`` worker processes, forked from this one once the model is
loaded so that none re-imports its libraries. Each unit is read in batches of ``max_batch_rows``, so
memory stays bounded whatever the input size. Each unit's scored rows (input columns + model
outputs) go to one Parquet file named after the unit, so the same input and model always give the
same files. ``_SUCCESS`` is written last, only when every unit succeeded.

As it scores, each worker records its rows so far in the job folder (``progress-<worker>.json``, at
most once a second, beside ``progress.json``'s total), and the job records its wall and CPU seconds in
``usage.json`` when it ends: what the waiting task logs as progress and reports as cost.

Set ``AIRFLOW_SNOWFLAKE_BATCH_LOCAL_JOB_DELAY`` (seconds) in the submitting process's environment to
make jobs wait that long once RUNNING, e.g. so a test can cancel or kill a running job; set
``AIRFLOW_SNOWFLAKE_BATCH_LOCAL_BATCH_DELAY`` to make each scored batch take that much longer, e.g. so
a test sees a job's progress while it scores.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from airflow_snowflake_batch.backends.local import jobs, media
from airflow_snowflake_batch.backends.local.layout import Layout, read_json, write_json_atomic
from airflow_snowflake_batch.backends.local.registry import load_function
from airflow_snowflake_batch.backends.local.scoring import (
    LoadedFunction,
    map_features,
    parquet_writer,
    score_batch,
)
from airflow_snowflake_batch.constants import SUCCESS_FILE
from airflow_snowflake_batch.job_status import BatchJobStatus

DELAY_ENV = "AIRFLOW_SNOWFLAKE_BATCH_LOCAL_JOB_DELAY"
BATCH_DELAY_ENV = "AIRFLOW_SNOWFLAKE_BATCH_LOCAL_BATCH_DELAY"

Unit = tuple[int, Path, int]  # (unit number, input file, row group)
# Scored rows are written in row groups of this many rows (or bytes, for wide rows such as images).
OUTPUT_ROW_GROUP_ROWS = 131_072
OUTPUT_ROW_GROUP_BYTES = 64 * 1024 * 1024
# A worker records its progress at most this often (seconds): readers look once a minute at most.
PROGRESS_EVERY = 1.0


class _Progress:
    """One worker's rows scored so far, written to its progress file at most every ``PROGRESS_EVERY`` s."""

    def __init__(self, job_dir: Path, worker: int) -> None:
        self.job_dir, self.worker, self.rows, self._written = job_dir, worker, 0, 0.0

    def add(self, rows: int, *, flush: bool = False) -> None:
        self.rows += rows
        if flush or time.monotonic() - self._written >= PROGRESS_EVERY:
            jobs.write_progress(self.job_dir, self.worker, self.rows)
            self._written = time.monotonic()


def total_rows(units: list[Unit]) -> int:
    """The rows of the work units, from the Parquet footers (no data read)."""
    return sum(
        sum(pq.ParquetFile(path).metadata.row_group(g).num_rows for _, _, g in file_units)
        for path, file_units in itertools.groupby(units, key=lambda unit: unit[1])
    )


def work_units(job: dict[str, Any]) -> list[Unit]:
    """One unit per row group of the input files (each confined to the workspace, so read safely)."""
    import pyarrow as pa

    layout = Layout.at(job["workspace"])
    input_dir = _confined(job, "input_dir")
    files = sorted(layout.confine(p) for p in input_dir.rglob("*.parquet") if p.is_file())
    if not files:
        raise FileNotFoundError(f"No Parquet input files under {input_dir}.")
    units: list[Unit] = []
    for path in files:
        try:
            groups = pq.ParquetFile(path).metadata.num_row_groups
        except (pa.ArrowException, OSError) as exc:
            raise ValueError(
                f"Input file {path.relative_to(input_dir).as_posix()} is not a readable Parquet file ({exc}); "
                "replace or remove it from the input location and run the job again."
            ) from exc
        first = len(units)
        units.extend((first + g, path, g) for g in range(groups))
    return units


def _converters(job: dict[str, Any], columns: list[str]) -> dict[str, Callable[[Any], Any]]:
    """Per column of ``column_handling``: read the stage file a row names and convert its bytes."""
    read = media.stage_reader(Layout.at(job["workspace"]), job["database"], job["schema"])
    converters: dict[str, Callable[[Any], Any]] = {}
    for key, handling in job["column_handling"].items():
        column = next((c for c in columns if c == key or c.upper() == key.upper()), None)
        if column is None:
            raise ValueError(
                f"column_handling names column {key!r}, which the input does not have ({columns})."
            )
        # The hook checked and lower-cased input_format and convert_to before submitting.
        convert_to = handling["convert_to"]

        def convert(path: Any, convert_to: str = convert_to) -> Any:
            return None if path is None else media.encode(read(str(path)), convert_to, str(path))

        converters[column] = convert
    return converters


def _confined(job: dict[str, Any], key: str) -> Path:
    """A folder named by the job record, checked again here: it may have become a symlink since submit."""
    return Layout.at(job["workspace"]).confine(job[key])


def _message_converters(
    job: dict[str, Any], function: LoadedFunction, feature_columns: list[str]
) -> dict[str, Callable[[Any], Any]]:
    """Chat models: stage URLs inside the ``messages`` column become the files' content, as on SPCS."""
    read = media.stage_reader(Layout.at(job["workspace"]), job["database"], job["schema"])
    return {
        column: lambda messages: None if messages is None else media.resolve_messages(messages, read)
        for spec, column in zip(function.inputs, feature_columns, strict=True)
        if spec["name"].lower() == "messages" and "specs" in spec
    }


def run_units(
    job_dir: Path,
    job: dict[str, Any],
    units: list[Unit],
    function: LoadedFunction,
    *,
    parent_pid: int | None = None,
    worker: int = 0,
) -> None:
    """Score the given work units into their output files (each input file is opened once)."""
    progress = _Progress(job_dir, worker)
    output_dir = _confined(job, "output_dir")
    output_dir.mkdir(parents=True, exist_ok=True)
    params = function.resolve_params(job["params"])
    for path, file_units in itertools.groupby(units, key=lambda unit: unit[1]):
        with pq.ParquetFile(path) as parquet:
            columns = parquet.schema_arrow.names
            feature_columns, _ = map_features(function.input_names, columns, where=f"input file {path.name}")
            converters = {**_message_converters(job, function, feature_columns), **_converters(job, columns)}
            for number, _, group in file_units:
                scored = (
                    score_batch(
                        _alive(batch, parent_pid),
                        function,
                        feature_columns=feature_columns,
                        output_names=function.output_names,
                        params=params,
                        converters=converters,
                        first_row=first_row,
                        where=f"input file {path.name}",
                    )
                    for first_row, batch in _numbered_batches(parquet, group, job["max_batch_rows"])
                )
                _write_unit(_counted(scored, progress), job_dir, output_dir / f"data_{number:05d}.parquet")
                progress.add(0, flush=True)
                jobs.log_line(job_dir, f"Scored work unit {number} ({path.name}, row group {group}).")


def _counted(tables: Iterator[pa.Table], progress: _Progress) -> Iterator[pa.Table]:
    delay = float(os.environ.get(BATCH_DELAY_ENV) or 0)
    for table in tables:
        if delay > 0:
            time.sleep(delay)
        progress.add(table.num_rows)
        yield table


def _numbered_batches(
    parquet: pq.ParquetFile, group: int, batch_rows: int
) -> Iterator[tuple[int, pa.RecordBatch]]:
    """The row group's batches, each with the file row (from 0) it starts at, for error messages."""
    start = sum(parquet.metadata.row_group(g).num_rows for g in range(group))
    for batch in parquet.iter_batches(batch_size=batch_rows, row_groups=[group]):
        yield start, batch
        start += batch.num_rows


def _alive(batch: pa.RecordBatch, parent_pid: int | None) -> pa.RecordBatch:
    if parent_pid is not None and os.getppid() != parent_pid:
        raise SystemExit("The job process is gone; stopping this worker.")
    return batch


def _write_unit(tables: Iterator[pa.Table], job_dir: Path, target: Path) -> None:
    """Write one unit's scored batches to ``target`` (atomically), in row groups of
    ``OUTPUT_ROW_GROUP_ROWS`` rows or ``OUTPUT_ROW_GROUP_BYTES`` bytes, whichever comes first:
    a row group per small batch would make writing the slowest part of the job."""
    partial = job_dir / f".{target.name}.partial"
    writer: pq.ParquetWriter | None = None
    pending: list[pa.Table] = []
    try:
        for table in tables:
            pending.append(table)
            if sum(t.num_rows for t in pending) >= OUTPUT_ROW_GROUP_ROWS or (
                sum(t.nbytes for t in pending) >= OUTPUT_ROW_GROUP_BYTES
            ):
                writer = writer or parquet_writer(partial, table.schema)
                writer.write_table(pa.concat_tables(pending), row_group_size=OUTPUT_ROW_GROUP_ROWS)
                pending = []
        if pending:
            writer = writer or parquet_writer(partial, pending[0].schema)
            writer.write_table(pa.concat_tables(pending), row_group_size=OUTPUT_ROW_GROUP_ROWS)
    finally:
        if writer is not None:
            writer.close()
    if writer is not None:
        os.replace(partial, target)


def _run_workers(
    job_dir: Path, job: dict[str, Any], units: list[Unit], count: int, function: LoadedFunction | None = None
) -> None:
    """Score with ``count`` processes: unit i goes to worker i mod count; this process is worker 0.

    The model is loaded (and its libraries imported) once, here, before the other workers are forked:
    they start at once with everything imported instead of paying seconds of imports each. Nothing
    has scored yet at the fork, so no thread pool (OpenMP, BLAS) is running in the copied process.
    """
    if function is None:
        function = load_function(_confined(job, "version_dir"), job["target_method"])
    context = multiprocessing.get_context("fork")
    others = [
        context.Process(
            target=_worker, args=(job_dir, job, units[k::count], function, k, count, os.getpid()), daemon=True
        )
        for k in range(1, count)
    ]
    for worker in others:
        worker.start()
    try:
        _limit_threads(count)
        run_units(job_dir, job, units[0::count], function)
        for worker in others:
            worker.join()
            if worker.exitcode != 0:
                errors = sorted(job_dir.glob("worker-*.error"))
                raise RuntimeError(
                    errors[0].read_text() if errors else f"a worker exited with code {worker.exitcode}"
                )
    finally:
        for worker in others:
            if worker.is_alive():
                worker.kill()
                worker.join()


def _limit_threads(processes: int) -> None:
    """Share the cores between the worker processes: each model's thread pools (OpenMP, BLAS) get
    ``cores / processes`` threads instead of all cores each. threadpoolctl comes with scikit-learn."""
    if processes <= 1:
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(limits=max(1, (os.cpu_count() or 1) // processes))


def _log_peak_memory(job_dir: Path, who: str) -> None:
    """Log this process's peak resident memory (benchmarks/local_memory.py reads it).

    ``VmHWM`` counts only this program's memory; ``ru_maxrss`` would also count the submitting
    process's memory at fork time, which Linux carries over ``exec``.
    """
    try:
        status = Path("/proc/self/status").read_text()
        peak_kib = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
    except (OSError, StopIteration):
        import resource

        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    jobs.log_line(job_dir, f"{who} peak_rss_kib={peak_kib}")


def _worker(
    job_dir: Path,
    job: dict[str, Any],
    units: list[Unit],
    function: LoadedFunction,
    index: int,
    count: int,
    parent_pid: int,
) -> None:
    """A forked worker: score its units, or leave the error for the leader to report as the job's."""
    try:
        _limit_threads(count)
        run_units(job_dir, job, units, function, parent_pid=parent_pid, worker=index)
        _log_peak_memory(job_dir, f"worker {index}")
    except BaseException as exc:
        jobs.log_line(job_dir, f"Worker {index} failed:\n{traceback.format_exc()}")
        (job_dir / f"worker-{index}.error").write_text(f"{type(exc).__name__}: {exc}")
        os._exit(1)  # a forked child must not run the leader's cleanup (atexit, finally blocks)
    os._exit(0)


def _record_usage(job_dir: Path, started: float) -> None:
    """Write ``usage.json``: wall seconds since start, CPU seconds of this process and its (joined) workers."""
    import resource

    cpu = sum(
        usage.ru_utime + usage.ru_stime
        for usage in (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN))
    )
    write_json_atomic(
        job_dir / jobs.USAGE_FILE, {"wall_seconds": time.monotonic() - started, "cpu_seconds": cpu}
    )


# How often a prepared job process looks for job.json while the submitter exports the input.
_WAIT_SECONDS = 0.02


def _prepared(job_dir: Path) -> tuple[Any, BaseException | None] | None:
    """For a job started before its input (``prepare.json``): load the model, then wait for ``job.json``.

    Returns (the loaded function or None, the error loading it), reported once the job exists, as a
    model that fails to load always was; None when the submission ended without a job (the submitter
    died or removed the folder), and this process should leave without a trace.
    """
    prepared = read_json(job_dir / jobs.PREPARE_FILE)
    function, error = None, None
    try:
        layout = Layout.at(prepared["workspace"])
        function = load_function(layout.confine(prepared["version_dir"]), prepared["target_method"])
    except Exception as exc:
        error = exc
    while not (job_dir / jobs.JOB_FILE).is_file():
        if not job_dir.is_dir() or not jobs.alive(prepared["submitter"]):
            return None
        time.sleep(_WAIT_SECONDS)
    return function, error


def _lead(job_dir: Path) -> int:
    started = time.monotonic()
    preloaded: Any = None
    if (job_dir / jobs.PREPARE_FILE).is_file():
        prepared = _prepared(job_dir)
        if prepared is None:
            return 0
        preloaded, load_error = prepared
    else:
        load_error = None
    job = read_json(job_dir / jobs.JOB_FILE)
    jobs.write_status(job_dir, BatchJobStatus.RUNNING, "Scoring.")
    jobs.log_line(job_dir, f"Job {job['job_id']} started: {job['target_method']} of {job['version_dir']}.")
    try:
        delay = float(os.environ.get(DELAY_ENV) or 0)
        if delay > 0:
            jobs.log_line(job_dir, f"Waiting {delay}s ({DELAY_ENV}).")
            time.sleep(delay)
        if (job_dir / jobs.PREPARE_FILE).is_file() and (
            job["version_dir"] != read_json(job_dir / jobs.PREPARE_FILE)["version_dir"]
        ):
            preloaded, load_error = None, None  # not the model the job names: load that one
        if load_error is not None:
            raise load_error
        units = work_units(job)
        count = max(1, min(job["processes"], len(units)))
        jobs.log_line(job_dir, f"{len(units)} work unit(s), {count} worker process(es).")
        write_json_atomic(job_dir / jobs.PROGRESS_FILE, {"total_rows": total_rows(units)})
        _run_workers(job_dir, job, units, count, preloaded)
        output_dir = _confined(job, "output_dir")
        output_dir.mkdir(parents=True, exist_ok=True)
        rows = sum(pq.ParquetFile(p).metadata.num_rows for p in output_dir.glob("*.parquet"))
        (output_dir / SUCCESS_FILE).write_bytes(b"")
        message = f"Scored {rows} rows into {output_dir}."
        _log_peak_memory(job_dir, "worker 0")
        _record_usage(job_dir, started)
        jobs.write_status(job_dir, BatchJobStatus.DONE, message)
        jobs.log_line(job_dir, message)
        return 0
    except Exception as exc:
        jobs.log_line(job_dir, f"Job failed:\n{traceback.format_exc()}")
        jobs.write_status(job_dir, BatchJobStatus.FAILED, f"{type(exc).__name__}: {exc}")
        return 1
    finally:
        jobs.remove_scratch_input(job_dir, Layout.at(job["workspace"]))


def main(argv: list[str]) -> int:
    return _lead(Path(argv[0]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
