"""What a DAG using this provider adds to a DAG parse, against the same DAG shape with EmptyOperator.

Each sample is a fresh interpreter (with bytecode caches, as installed packages have) that first imports what a DAG processor has loaded anyway
(Airflow, ``airflow.sdk``, ``EmptyOperator``), then times executing one DAG file: four tasks of the
same shape (warehouse operator, batch operator, sensor, load operator) built from

- ``empty``: ``EmptyOperator`` (the baseline);
- ``ours``: this provider's three operators and sensor;
- ``official``: the Snowflake provider's ``SnowparkContainerJobOperator`` (four of them), if installed.

It prints the median of the samples and the marginal cost over ``empty`` (goal for ``ours``: under
+50 ms), measured in the same run. Nothing is asserted.

Run: ``.venv/bin/python benchmarks/parse_cost.py [--samples 7]`` or ``--smoke`` (CI: one sample of empty and ours).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import textwrap

PRELOADED = (
    "import airflow, airflow.sdk\nfrom airflow.providers.standard.operators.empty import EmptyOperator\n"
)

HEADER = """
from datetime import datetime
from airflow.sdk import DAG
"""

DAGS = {
    "empty": """
from airflow.providers.standard.operators.empty import EmptyOperator
with DAG("shape", start_date=datetime(2024, 1, 1), schedule=None):
    EmptyOperator(task_id="score") >> EmptyOperator(task_id="batch") >> EmptyOperator(task_id="wait") >> EmptyOperator(task_id="load")
""",
    "ours": """
from airflow_snowflake_batch.operators.batch_job import SnowflakeBatchInferenceOperator
from airflow_snowflake_batch.operators.load_results import SnowflakeLoadBatchResultsOperator
from airflow_snowflake_batch.operators.warehouse import SnowflakeWarehouseInferenceOperator
from airflow_snowflake_batch.sensors.batch_job import SnowflakeBatchInferenceJobSensor
with DAG("shape", start_date=datetime(2024, 1, 1), schedule=None):
    score = SnowflakeWarehouseInferenceOperator(task_id="score", model_name="M", input_table="T", output_table="O")
    batch = SnowflakeBatchInferenceOperator(
        task_id="batch", model_name="M", input_table="T", compute_pool="P", output_stage_location="@OUT/p",
        deferrable=True, wait_for_completion=False,
    )
    wait = SnowflakeBatchInferenceJobSensor(task_id="wait", job_id=batch.output["job_id"], deferrable=True)
    load = SnowflakeLoadBatchResultsOperator(task_id="load", output_location=batch.output["output_location"], target_table="R")
    score >> batch >> wait >> load
""",
    "official": """
from airflow.providers.snowflake.operators.snowpark_containers import SnowparkContainerJobOperator
with DAG("shape", start_date=datetime(2024, 1, 1), schedule=None):
    tasks = [
        SnowparkContainerJobOperator(task_id=t, compute_pool="P", container_name="main", spec_text="spec: {}")
        for t in ("score", "batch", "wait", "load")
    ]
    tasks[0] >> tasks[1] >> tasks[2] >> tasks[3]
""",
}

_PROBE = """
import time
{preloaded}
source = {source!r}
start = time.perf_counter()
exec(compile(source, "dag.py", "exec"), {{}})
print(time.perf_counter() - start)
"""


def sample(variant: str) -> float:
    code = _PROBE.format(preloaded=PRELOADED, source=textwrap.dedent(HEADER + DAGS[variant]))
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=600
    )
    return float(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=7)
    parser.add_argument("--smoke", action="store_true", help="1 sample, no warm-up, no official row: for CI")
    args = parser.parse_args()
    samples = 1 if args.smoke else args.samples
    variants = ["empty", "ours"]
    if args.smoke:
        pass  # CI checks the script runs; the official operator's import alone takes seconds
    elif importlib.util.find_spec("airflow.providers.snowflake.operators.snowpark_containers"):
        variants.append("official")
    else:
        print("The Snowflake provider's SnowparkContainerJobOperator is not installed: no 'official' row.")
    for variant in variants if not args.smoke else ():  # warm-up: writes the bytecode caches
        sample(variant)
    # Interleaved, so a load change on the machine affects every variant alike.
    times: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(samples):
        for variant in variants:
            times[variant].append(sample(variant))
    base = statistics.median(times["empty"])
    print(f"DAG parse of a 4-task DAG, median of {samples} fresh interpreters (Airflow preloaded)")
    print(f"{'variant':<9} {'ms':>8} {'over empty (ms)':>16} {'ratio':>7}")
    for variant in variants:
        median = statistics.median(times[variant])
        print(f"{variant:<9} {median * 1000:>8.1f} {(median - base) * 1000:>+16.1f} {median / base:>7.2f}")


if __name__ == "__main__":
    main()
