from __future__ import annotations

import subprocess
import sys

HEAVY = ("snowflake.ml", "snowflake.snowpark", "snowflake.connector", "pandas", "pyarrow", "duckdb")


def test_dag_files_importing_the_operators_stay_light():
    """DAG parsing imports these modules: the heavy SDKs must wait until a task runs."""
    code = (
        "import sys\n"
        "import airflow_snowflake_batch.operators.warehouse, airflow_snowflake_batch.operators.batch_job\n"
        "import airflow_snowflake_batch.operators.load_results, airflow_snowflake_batch.sensors.batch_job\n"
        "import airflow_snowflake_batch.triggers.batch_job, airflow_snowflake_batch.links\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"
