"""The process of one local batch job: ``python -m airflow_snowflake_batch.backends.local.job_runner <job_dir>``.

It behaves like an SPCS batch inference job. The input Parquet files are cut into work units (one
per row group), shared round-robin by ``replicas × num_workers`` worker processes; each unit is read
in batches of ``max_batch_rows``, so memory stays bounded whatever the input size. Each unit's
scored rows (input columns + model outputs) go to one Parquet file named after the unit, so the same
input and model always give the same files. ``_SUCCESS`` is written last, only when every unit
succeeded.

Set ``AIRFLOW_SNOWFLAKE_BATCH_LOCAL_JOB_DELAY`` (seconds) in the submitting process's environment to
make jobs wait that long once RUNNING, e.g. so a test can cancel or kill a running job.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from airflow_snowflake_batch.backends.local import jobs, media
from airflow_snowflake_batch.backends.local.layout import Layout, read_json
from airflow_snowflake_batch.backends.local.registry import load_function
from airflow_snowflake_batch.backends.local.scoring import (
    LoadedFunction,
    iter_batches,
    map_features,
    score_batch,
)
from airflow_snowflake_batch.job_status import BatchJobStatus

DELAY_ENV = "AIRFLOW_SNOWFLAKE_BATCH_LOCAL_JOB_DELAY"
SUCCESS_FILE = "_SUCCESS"

Unit = tuple[int, Path, int]  # (unit number, input file, row group)


def work_units(input_dir: Path) -> list[Unit]:
    files = sorted(p for p in input_dir.rglob("*.parquet") if p.is_file())
    if not files:
        raise FileNotFoundError(f"No Parquet input files under {input_dir}.")
    units: list[Unit] = []
    for path in files:
        for group in range(pq.ParquetFile(path).metadata.num_row_groups):
            units.append((len(units), path, group))
    return units


def _converters(job: dict[str, Any], columns: list[str]) -> dict[str, Callable[[Any], Any]]:
    """Per column of ``column_handling``: read the stage file a row names and convert its bytes."""
    read = media.stage_reader(Layout.at(job["workspace"]), job["database"], job["schema"])
    converters = {}
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
    job_dir: Path, job: dict[str, Any], units: list[Unit], *, parent_pid: int | None = None
) -> None:
    """Score the given work units into their output files."""
    function = load_function(Path(job["version_dir"]), job["target_method"])
    output_dir = Path(job["output_dir"])
    output_dir.mkdir(parents=True, exist_ok=True)
    params = function.resolve_params(job["params"])
    for number, path, group in units:
        columns = pq.ParquetFile(path).schema_arrow.names
        feature_columns, _ = map_features(function.input_names, columns, where=f"input file {path.name}")
        converters = {**_message_converters(job, function, feature_columns), **_converters(job, columns)}
        target = output_dir / f"data_{number:05d}.parquet"
        partial = job_dir / f".{target.name}.partial"
        writer = None
        try:
            for batch in iter_batches(path, group, job["max_batch_rows"]):
                if parent_pid is not None and os.getppid() != parent_pid:
                    raise SystemExit("The job process is gone; stopping this worker.")
                table = score_batch(
                    batch,
                    function,
                    feature_columns=feature_columns,
                    output_names=function.output_names,
                    params=params,
                    converters=converters,
                )
                if writer is None:
                    writer = pq.ParquetWriter(partial, table.schema)
                writer.write_table(table)
        finally:
            if writer is not None:
                writer.close()
        if writer is not None:
            os.replace(partial, target)
        jobs.log_line(job_dir, f"Scored work unit {number} ({path.name}, row group {group}).")


def _run_workers(job_dir: Path, job: dict[str, Any], units: list[Unit], count: int) -> None:
    """Score with ``count`` processes: unit i goes to worker i mod count; this process is worker 0."""
    others = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                jobs.RUNNER_MODULE,
                str(job_dir),
                "--worker",
                str(k),
                str(count),
                str(os.getpid()),
            ]
        )
        for k in range(1, count)
    ]
    try:
        run_units(job_dir, job, units[0::count])
        for worker in others:
            if worker.wait() != 0:
                errors = sorted(job_dir.glob("worker-*.error"))
                raise RuntimeError(
                    errors[0].read_text() if errors else f"a worker exited with code {worker.returncode}"
                )
    finally:
        for worker in others:
            if worker.poll() is None:
                worker.kill()
                worker.wait()


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


def _worker(job_dir: Path, index: int, count: int, parent_pid: int) -> int:
    job = read_json(job_dir / jobs.JOB_FILE)
    try:
        units = work_units(Path(job["input_dir"]))
        run_units(job_dir, job, units[index::count], parent_pid=parent_pid)
        _log_peak_memory(job_dir, f"worker {index}")
        return 0
    except Exception as exc:  # the leader reports it as the job's error
        jobs.log_line(job_dir, f"Worker {index} failed:\n{traceback.format_exc()}")
        (job_dir / f"worker-{index}.error").write_text(f"{type(exc).__name__}: {exc}")
        return 1


def _lead(job_dir: Path) -> int:
    job = read_json(job_dir / jobs.JOB_FILE)
    jobs.write_status(job_dir, BatchJobStatus.RUNNING, "Scoring.")
    jobs.log_line(job_dir, f"Job {job['job_id']} started: {job['target_method']} of {job['version_dir']}.")
    try:
        delay = float(os.environ.get(DELAY_ENV) or 0)
        if delay > 0:
            jobs.log_line(job_dir, f"Waiting {delay}s ({DELAY_ENV}).")
            time.sleep(delay)
        units = work_units(Path(job["input_dir"]))
        count = max(1, min(job["processes"], len(units)))
        jobs.log_line(job_dir, f"{len(units)} work unit(s), {count} worker process(es).")
        _run_workers(job_dir, job, units, count)
        output_dir = Path(job["output_dir"])
        output_dir.mkdir(parents=True, exist_ok=True)
        rows = sum(pq.ParquetFile(p).metadata.num_rows for p in output_dir.glob("*.parquet"))
        (output_dir / SUCCESS_FILE).write_bytes(b"")
        message = f"Scored {rows} rows into {output_dir}."
        _log_peak_memory(job_dir, "worker 0")
        jobs.write_status(job_dir, BatchJobStatus.DONE, message)
        jobs.log_line(job_dir, message)
        return 0
    except Exception as exc:
        jobs.log_line(job_dir, f"Job failed:\n{traceback.format_exc()}")
        jobs.write_status(job_dir, BatchJobStatus.FAILED, f"{type(exc).__name__}: {exc}")
        return 1
    finally:
        jobs.remove_scratch_input(job_dir)


def main(argv: list[str]) -> int:
    job_dir = Path(argv[0])
    if len(argv) == 5 and argv[1] == "--worker":
        return _worker(job_dir, int(argv[2]), int(argv[3]), int(argv[4]))
    return _lead(job_dir)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
