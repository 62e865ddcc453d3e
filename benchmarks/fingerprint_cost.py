"""What ``rescore="if_changed"`` costs beside the scoring it may save, on the local backend.

One warehouse run of a LogisticRegression ``predict_proba`` over a table of N rows (``ID`` and 8
DOUBLE features) into a partition, measured in the same run as:

- ``score``: ``run_warehouse_inference`` alone (the baseline: what every run paid before rescore; measured
  before and after the others, the smaller kept);
- ``fingerprint``: the input's aggregate hash alone (``hash_input``: DuckDB's ``sum(hash(row))`` and
  ``count(*)`` over the rows, the local stand-in for Snowflake's ``HASH_AGG(*)``);
- ``first run``: ``run_warehouse_scoring`` when the partition has no record (checks, fingerprint, score,
  record);
- ``unchanged rerun``: ``run_warehouse_scoring`` again (checks, fingerprint, record read: no scoring).

It prints each time and the ratios fingerprint/score (the overhead a changed run pays) and
unchanged rerun/score (what an unchanged rerun costs instead of scoring). Nothing is asserted.

Run: ``.venv/bin/python benchmarks/fingerprint_cost.py [--rows 1000000]`` or ``--smoke`` (20,000 rows).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from local_memory import FEATURES, build

from airflow_snowflake_batch.backends.base import InputSource
from airflow_snowflake_batch.backends.local.backend import LocalBackend
from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook


def timed(call: object) -> tuple[float, object]:
    started = time.monotonic()
    result = call()  # type: ignore[operator]
    return time.monotonic() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--smoke", action="store_true", help="20,000 rows")
    args = parser.parse_args()
    rows = 20_000 if args.smoke else args.rows

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ws"
        ws, _ = build(root, rows)
        backend = LocalBackend(root, database="ML", schema="PUBLIC")
        os.environ["AIRFLOW_CONN_FINGERPRINT_BENCH"] = ws.connection_uri()
        hook = SnowflakeBatchInferenceHook("fingerprint_bench")
        source = InputSource(table=ws.name("BIG"))
        arguments = {
            "model_name": "BENCH",
            "version_name": None,
            "function_name": "predict_proba",
            "params": {},
            "source": source,
            "output_mode": "overwrite",
        }
        # Warm-up (imports, the model's first load), so the baseline is not the first call.
        hook.run_warehouse_inference(output_table="WARMUP", output_partition={"DS": "d"}, **arguments)
        score, _ = timed(
            lambda: hook.run_warehouse_inference(
                output_table="BASELINE", output_partition={"DS": "d"}, **arguments
            )
        )
        fingerprint, digest = timed(lambda: backend.hash_input(source))
        first, scored = timed(
            lambda: hook.run_warehouse_scoring(
                output_table="SCORES", output_partition={"DS": "d"}, **arguments
            )
        )
        again, reused = timed(
            lambda: hook.run_warehouse_scoring(
                output_table="SCORES", output_partition={"DS": "d"}, **arguments
            )
        )
        assert not scored.reused and reused.reused, (scored, reused)  # type: ignore[attr-defined]
        # The baseline again, after: the smaller of the two (a shared machine slows either at times).
        score_after, _ = timed(
            lambda: hook.run_warehouse_inference(
                output_table="BASELINE_2", output_partition={"DS": "d"}, **arguments
            )
        )
        score = min(score, score_after)

    print(f"rows: {rows:,} ({len(FEATURES)} DOUBLE features), input digest {digest}")
    for name, seconds in (
        ("score (baseline)", score),
        ("fingerprint (hash_input)", fingerprint),
        ("first run (rescore)", first),
        ("unchanged rerun", again),
    ):
        print(f"  {name:<26} {seconds:8.3f} s")
    print(f"fingerprint / score:      {fingerprint / score:.3f}")
    print(f"first run / score:        {first / score:.3f}")
    print(f"unchanged rerun / score:  {again / score:.3f}")


if __name__ == "__main__":
    main()
