"""Throughput of local batch jobs against one process doing the same work, and loads against DuckDB.

For each model (LogisticRegression ``predict_proba``, XGBoost ``predict_proba``), the same run times:

- ``in-process``: the baseline, "read Parquet -> predict -> write Parquet" in this process (the input
  is the table exported to one Parquet file beforehand; the output holds inputs + predictions);
- ``job, 1 process`` and ``job, 2 processes``: a local batch job over the table, from submit (which
  exports the table) to DONE, with ``replicas=1`` and ``num_workers`` 1 or 2;

and prints rows/s, the job/baseline time ratio (goal: at most 2), the 2-process/1-process ratio (goal:
below 1 for XGBoost) and each job's peak resident memory (``VmHWM`` its processes log). Then it loads
one job's output into a table with ``load_results`` and compares it with DuckDB's own
``INSERT INTO ... SELECT * FROM read_parquet(...)`` of the same files. Nothing is asserted.

Run: ``.venv/bin/python benchmarks/local_throughput.py [--rows 1000000]`` or ``--smoke`` (CI: 20,000 rows, LogisticRegression only).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from local_memory import FEATURES, create_input, run_job

from airflow_snowflake_batch.backends.base import LoadResultsRequest
from airflow_snowflake_batch.backends.local.backend import LocalBackend
from airflow_snowflake_batch.identifiers import ObjectName, StageLocation
from airflow_snowflake_batch.local import LocalWorkspace


def build(root: Path, rows: int, *, xgboost: bool = True) -> tuple[LocalWorkspace, dict[str, Any]]:
    from sklearn.linear_model import LogisticRegression

    ws = LocalWorkspace(root)
    rng = np.random.default_rng(0)
    train = pd.DataFrame(rng.normal(size=(5_000, len(FEATURES))), columns=FEATURES)
    labels = (train["F0"] + train["F1"] * train["F2"] > 0).astype(int)
    models = {"LOGREG": LogisticRegression().fit(train, labels)}
    if xgboost:
        from xgboost import XGBClassifier

        models["XGB"] = XGBClassifier(n_estimators=100, max_depth=6).fit(train, labels)
    for name, model in models.items():
        ws.log_model(
            model,
            model_name=name,
            version_name="V1",
            sample_input_data=train.head(100),
            target_methods=["predict_proba"],
        )
    create_input(ws, rows)
    return ws, models


def in_process(ws: LocalWorkspace, model: Any, scratch: Path) -> float:
    """Seconds to read the exported input, predict and write inputs + predictions, in this process."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    source = scratch / "input.parquet"
    if not source.exists():
        # The workspace's DuckDB has file access disabled (it may only touch its own folder),
        # so the input is exported through pyarrow instead of COPY ... TO.
        pq.write_table(
            pa.Table.from_pandas(ws.sql("SELECT * FROM ML.PUBLIC.BIG"), preserve_index=False), source
        )
    started = time.monotonic()
    table = pq.read_table(source)
    probabilities = model.predict_proba(table.select(FEATURES).to_pandas())
    for k in range(probabilities.shape[1]):
        table = table.append_column(f"output_feature_{k}", pa.array(probabilities[:, k]))
    # Plain encoding, as the job writes (dictionaries of distinct floats only cost time).
    pq.write_table(table, scratch / "scored.parquet", use_dictionary=False)
    return time.monotonic() - started


def compare_loads(ws: LocalWorkspace, job_name: str, scratch: Path) -> tuple[float, float]:
    """(seconds of load_results, seconds of DuckDB's INSERT ... read_parquet) for the same files."""
    import duckdb

    backend = LocalBackend(ws.root)
    location = StageLocation.parse(f"@ML.PUBLIC.OUT/bench/{job_name}/")
    request = LoadResultsRequest(
        location=location,
        target_table=ObjectName.parse("ML.PUBLIC.LOADED"),
        mode="append",
        # The Parquet files of the job, as the hook lists them for a load.
        parquet_files=tuple(f for f in backend.list_files(location) if f.endswith(".parquet")),
    )
    started = time.monotonic()
    loaded = backend.load_results(request)
    ours = time.monotonic() - started

    files = str(backend.layout.location_dir(location) / "*.parquet")
    con = duckdb.connect(str(scratch / "plain.duckdb"))
    started = time.monotonic()
    con.execute("CREATE TABLE LOADED AS SELECT * FROM read_parquet(?) LIMIT 0", [files])
    con.execute("INSERT INTO LOADED SELECT * FROM read_parquet(?)", [files])
    plain = time.monotonic() - started
    (inserted,) = con.execute("SELECT count(*) FROM LOADED").fetchone() or (0,)
    con.close()
    if loaded != inserted:
        raise RuntimeError(
            f"load_results loaded {loaded} rows, DuckDB's INSERT {inserted}: not the same work"
        )
    return ours, plain


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--smoke", action="store_true", help="20,000 rows, LogisticRegression only: for CI")
    args = parser.parse_args()
    rows = 20_000 if args.smoke else args.rows
    with tempfile.TemporaryDirectory(prefix="local-throughput-") as tmp:
        ws, models = build(Path(tmp) / "ws", rows, xgboost=not args.smoke)
        print(f"{rows:,} rows x {len(FEATURES)} DOUBLE features, predict_proba")
        print(f"{'model':<7} {'run':<19} {'seconds':>8} {'rows/s':>11} {'vs in-process':>14} {'peak MiB':>9}")
        last_job = ""
        for model_name, model in models.items():
            baseline = in_process(ws, model, Path(tmp))
            print(
                f"{model_name:<7} {'in-process':<19} {baseline:>8.2f} {rows / baseline:>11,.0f} {1.0:>14.2f} {'':>9}"
            )
            seconds = {}
            for workers in (1, 2):
                name = f"{model_name}_{workers}P"
                peak, _, seconds[workers] = run_job(ws, name, None, model=model_name, num_workers=workers)
                last_job = name
                print(
                    f"{'':<7} {f'job, {workers} process' + ('es' if workers > 1 else ''):<19} {seconds[workers]:>8.2f} "
                    f"{rows / seconds[workers]:>11,.0f} {seconds[workers] / baseline:>14.2f} {peak:>9.0f}"
                )
            print(f"{'':<7} 2 processes / 1 process: {seconds[2] / seconds[1]:.2f}")
        ours, duckdb_insert = compare_loads(ws, last_job, Path(tmp))
        print(
            f"load_results {ours:.2f}s vs DuckDB INSERT ... read_parquet {duckdb_insert:.2f}s: "
            f"ratio {ours / duckdb_insert:.2f}"
        )


if __name__ == "__main__":
    main()
