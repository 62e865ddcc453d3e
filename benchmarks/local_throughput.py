"""Throughput of local batch jobs against one process doing the same work, and loads against DuckDB.

For each model (LogisticRegression ``predict_proba``, XGBoost ``predict_proba``), the same run times:

- ``in-process``: the baseline, "read Parquet -> predict -> write Parquet" in this process (the input
  is the table exported to one Parquet file beforehand; the output holds inputs + predictions);
- ``job, 1 process`` and ``job, 2 processes``: a local batch job over the table, from submit (which
  exports the table) to DONE, with ``replicas=1`` and ``num_workers`` 1 or 2;

and prints rows/s, the job/baseline time ratio (goal: at most 2 for XGBoost, which runs on one thread in
both), the 2-process/1-process ratio and each job's peak resident memory (``VmHWM`` its processes log).
Then it loads one job's output into a table with ``load_results`` and compares it with DuckDB's own
``INSERT INTO ... SELECT * FROM read_parquet(...)`` of the same files (goal: at most 1.3), and times a
12-row warehouse task through the hook against the same work done bare (one DuckDB connection, unpickle,
predict, replace the partition; goal: at most 1.2 warm). It ends with each goal's ratio from this run.
Nothing is asserted.

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

        # One thread, in the job and in-process alike: the goal compares them on one core.
        models["XGB"] = XGBClassifier(n_estimators=100, max_depth=6, n_jobs=1).fit(train, labels)
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


TASK_ROWS = 12


def compare_warehouse_task(ws: LocalWorkspace, runs: int) -> tuple[float, float, float, float]:
    """A 12-row warehouse task through the hook vs the same work done bare; (cold ours, cold bare,
    warm ours, warm bare) seconds, warm being the median of ``runs`` runs after the first.

    The task: the hook's ``run_warehouse_inference`` of a table into one day's partition (checks,
    export, scoring, partition replace), with a new hook each run, as each Airflow task has. The bare
    work: one DuckDB connection to the database file, read the rows, unpickle the model, predict,
    replace the partition's rows in a transaction.
    """
    import os
    import statistics

    import cloudpickle
    import duckdb

    from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook
    from airflow_snowflake_batch.identifiers import Identifier

    os.environ["AIRFLOW_CONN_BENCH_LOCAL"] = ws.connection_uri()
    ws.sql(f"CREATE OR REPLACE TABLE ML.PUBLIC.SMALL AS SELECT * FROM ML.PUBLIC.BIG LIMIT {TASK_ROWS}")
    backend = LocalBackend(ws.root)
    ref = backend.get_model_version(ObjectName.parse("ML.PUBLIC.LOGREG"), None)
    model_file = backend.registry.version_dir(ref.model, ref.version) / "model.pkl"
    database_file = backend.layout.database_file(Identifier("ML"))

    def ours() -> float:
        started = time.monotonic()
        with SnowflakeBatchInferenceHook("bench_local") as hook:
            _, rows, _ = hook.run_warehouse_inference(
                model_name="ML.PUBLIC.LOGREG",
                version_name=None,
                function_name=None,
                source=hook.input_source(input_table="ML.PUBLIC.SMALL"),
                output_table="ML.PUBLIC.SMALL_SCORES",
                output_partition={"DS": "2024-01-01"},
            )
        assert rows == TASK_ROWS, rows
        return time.monotonic() - started

    def bare() -> float:
        started = time.monotonic()
        con = duckdb.connect(str(database_file))
        try:
            frame = con.execute("SELECT * FROM PUBLIC.SMALL").df()
            with model_file.open("rb") as handle:
                model = cloudpickle.load(handle)
            probabilities = model.predict_proba(frame[FEATURES])
            for k in range(probabilities.shape[1]):
                frame[f"output_feature_{k}"] = probabilities[:, k]
            frame["DS"] = "2024-01-01"
            con.execute("CREATE TABLE IF NOT EXISTS PUBLIC.BARE_SCORES AS SELECT * FROM frame LIMIT 0")
            con.execute("BEGIN TRANSACTION")
            con.execute("DELETE FROM PUBLIC.BARE_SCORES WHERE DS = '2024-01-01'")
            con.execute("INSERT INTO PUBLIC.BARE_SCORES SELECT * FROM frame")
            con.execute("COMMIT")
        finally:
            con.close()
        return time.monotonic() - started

    cold_ours, cold_bare = ours(), bare()
    warm_ours = statistics.median(ours() for _ in range(runs))
    warm_bare = statistics.median(bare() for _ in range(runs))
    return cold_ours, cold_bare, warm_ours, warm_bare


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
    # Written to the database file, as load_results' connection does when it closes: a load is done
    # when it is durable.
    con.execute("CHECKPOINT")
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
        one_process: dict[str, tuple[float, float]] = {}
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
            one_process[model_name] = (seconds[1], baseline)
        ours, duckdb_insert = compare_loads(ws, last_job, Path(tmp))
        cold, cold_bare, warm, warm_bare = compare_warehouse_task(ws, 3 if args.smoke else 7)
    print("\nGoals (each ratio measured in this run):")
    for model_name, (job_1p, baseline) in one_process.items():
        print(
            f"  {model_name} job, 1 process vs in-process: {job_1p / baseline:.2f}"
            + (
                "  (goal <= 2: " + ("met" if job_1p / baseline <= 2 else "not met") + ")"
                if model_name == "XGB"
                else ""
            )
        )
    print(
        f"  {TASK_ROWS}-row warehouse task vs its bare work: warm {warm / warm_bare:.2f} ({warm:.3f}s vs "
        f"{warm_bare:.3f}s), cold {cold / cold_bare:.2f} ({cold:.3f}s vs {cold_bare:.3f}s)  (goal <= 1.2: "
        + ("met" if warm / warm_bare <= 1.2 else "not met")
        + ")"
    )
    print(
        f"  load_results vs DuckDB INSERT ... read_parquet: {ours / duckdb_insert:.2f} ({ours:.2f}s vs "
        f"{duckdb_insert:.2f}s)  (goal <= 1.3: " + ("met" if ours / duckdb_insert <= 1.3 else "not met") + ")"
    )


if __name__ == "__main__":
    main()
