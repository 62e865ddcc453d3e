"""Peak memory of local batch jobs scoring 1,000,000 rows, by ``max_batch_rows``.

Each job process streams its work units in batches of ``max_batch_rows``, so its peak resident
memory should stay flat as the input grows and rise only with the batch size. This script scores the
same 1M-row table with several batch sizes and a "whole input" baseline (one batch of every row),
all in the same run, and prints each job's peak RSS (``VmHWM``, which each job process logs for
itself) and its ratio to the baseline. Nothing is asserted: the figures are for reading.

Run: ``.venv/bin/python benchmarks/local_memory.py [--rows 1000000]``
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from airflow_snowflake_batch.backends.base import BatchJobSpec, InputSource
from airflow_snowflake_batch.backends.local.backend import LocalBackend
from airflow_snowflake_batch.identifiers import Identifier, ObjectName, StageLocation
from airflow_snowflake_batch.local import LocalWorkspace

FEATURES = [f"F{i}" for i in range(8)]
_PEAK = re.compile(r"worker (\d+) peak_rss_kib=(\d+)")


def build(root: Path, rows: int) -> tuple[LocalWorkspace, object]:
    from sklearn.linear_model import LogisticRegression

    ws = LocalWorkspace(root)
    rng = np.random.default_rng(0)
    train = pd.DataFrame(rng.normal(size=(2_000, len(FEATURES))), columns=FEATURES)
    model = LogisticRegression().fit(train, (train["F0"] + train["F1"] > 0).astype(int))
    ws.log_model(
        model,
        model_name="BENCH",
        version_name="V1",
        sample_input_data=train.head(100),
        target_methods=["predict_proba"],
    )
    create_input(ws, rows)
    return ws, model


def create_input(ws: LocalWorkspace, rows: int) -> None:
    """Table ML.PUBLIC.BIG (ID and the random DOUBLE features) and the output stage OUT."""
    ws.sql(
        "CREATE TABLE ML.PUBLIC.BIG AS SELECT range AS ID, "
        + ", ".join(f"random() AS {name}" for name in FEATURES)
        + f" FROM range({int(rows)})"
    )
    ws.create_stage("OUT")


def run_job(
    ws: LocalWorkspace,
    name: str,
    max_batch_rows: int | None,
    *,
    model: str = "BENCH",
    num_workers: int | None = None,
) -> tuple[float, int, float]:
    """Score the table in one job; return (peak RSS MiB of its processes, output rows, seconds)."""
    backend = LocalBackend(ws.root)
    version = backend.get_model_version(ObjectName.parse(f"ML.PUBLIC.{model}"), None)
    spec = BatchJobSpec(
        model=version,
        function=version.functions[0],
        source=InputSource(table=ObjectName.parse("ML.PUBLIC.BIG")),
        job_name=ObjectName.parse(f"ML.PUBLIC.{name}"),
        compute_pool=Identifier("LOCAL"),
        output_location=StageLocation.parse("@ML.PUBLIC.OUT/bench/"),
        max_batch_rows=max_batch_rows,
        num_workers=num_workers,
    )
    started = time.monotonic()
    job_id = backend.submit_job(spec)
    while not (state := backend.get_job_state(job_id)).status.is_terminal:
        time.sleep(0.05)
    elapsed = time.monotonic() - started
    logs = backend.get_job_logs(job_id)
    if not state.status.is_success:
        raise RuntimeError(f"{job_id} ended {state.status.value}: {state.message}\n{logs}")
    peaks = [int(kib) for _, kib in _PEAK.findall(logs)]
    rows = int(re.search(r"Scored (\d+) rows", state.message).group(1))  # type: ignore[union-attr]
    return max(peaks) / 1024, rows, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    sizes = [("whole input", args.rows), ("1k", 1_000), ("10k", 10_000), ("100k", 100_000)]
    with tempfile.TemporaryDirectory(prefix="local-memory-") as tmp:
        ws, _ = build(Path(tmp) / "ws", args.rows)
        results = {}
        for label, batch_rows in sizes:
            results[label] = run_job(ws, f"BENCH_{batch_rows}", batch_rows)
    baseline = results["whole input"][0]
    print(f"Scoring {args.rows:,} rows ({len(FEATURES)} DOUBLE features, LogisticRegression.predict_proba)")
    print(
        f"{'max_batch_rows':>16} {'peak RSS (MiB)':>15} {'vs whole input':>15} {'rows out':>10} {'seconds':>8}"
    )
    for label, batch_rows in sizes:
        peak, rows, seconds = results[label]
        print(
            f"{label + ' (' + format(batch_rows, ',') + ')':>16} {peak:>15.1f} {peak / baseline:>15.2f} {rows:>10,} {seconds:>8.1f}"
        )


if __name__ == "__main__":
    main()
