"""Importing the package (what Airflow does at every DAG parse) must not import snowflake-ml or Snowpark.

They take seconds to import; the package imports them inside the methods that need them. The check runs
in a fresh interpreter so modules imported by other tests do not hide a regression.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

HEAVY = ("snowflake.ml", "snowflake.snowpark")

_PROBE = textwrap.dedent(
    """
    import importlib, json, pkgutil, sys
    import airflow_snowflake_batch as package

    imported, failed = [], {}

    def walk(path, prefix):
        # pkgutil.walk_packages would import every package to recurse, the exempt local one included.
        for info in pkgutil.iter_modules(path, prefix):
            if info.name.startswith("airflow_snowflake_batch.local"):
                continue  # the embedded backend is exempt (imported only for local connections)
            try:
                module = importlib.import_module(info.name)
                imported.append(info.name)
            except Exception as exc:  # reported, so a broken module does not pass by importing nothing
                failed[info.name] = repr(exc)
                continue
            if info.ispkg:
                walk(module.__path__, info.name + ".")

    walk(package.__path__, package.__name__ + ".")
    heavy = sorted(m for m in sys.modules if m.split(".")[:2] in (["snowflake", "ml"], ["snowflake", "snowpark"]))
    local = sorted(m for m in sys.modules if m.startswith("airflow_snowflake_batch.local"))
    print(json.dumps({"imported": imported, "failed": failed, "heavy": heavy, "local": local}))
    """
)


def _probe() -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=300, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_package_modules_import_without_snowflake_ml_or_snowpark():
    report = _probe()
    assert not report["failed"], f"modules failed to import: {report['failed']}"
    # The walk really covered the package (hooks at least), so an empty result means something.
    assert {
        "airflow_snowflake_batch.hooks.batch_inference",
        "airflow_snowflake_batch.backends.snowflake",
        "airflow_snowflake_batch.backends.snowflake_sql",
        "airflow_snowflake_batch.get_provider_info",
    } <= set(report["imported"])
    assert report["heavy"] == [], f"importing the package pulled in {report['heavy'][:10]}"
    assert report["local"] == [], f"non-local modules imported the local backend: {report['local']}"


# What a DAG file imports at parse time: the operators, sensor, trigger and link. These must also
# leave out the connector and the data libraries, which only a running task needs.
DAG_PARSE_HEAVY = ("snowflake.ml", "snowflake.snowpark", "snowflake.connector", "pandas", "pyarrow", "duckdb")


def test_dag_files_importing_the_operators_stay_light():
    code = (
        "import sys\n"
        "import airflow_snowflake_batch.operators.warehouse, airflow_snowflake_batch.operators.batch_job\n"
        "import airflow_snowflake_batch.operators.load_results, airflow_snowflake_batch.sensors.batch_job\n"
        "import airflow_snowflake_batch.triggers.batch_job, airflow_snowflake_batch.links\n"
        f"print(sorted(m for m in {DAG_PARSE_HEAVY!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"


# Parsing a DAG must not import the hook or the trigger: the hook pulls in the Snowflake provider's hook
# (requests, common.sql, sqlparse, cryptography...), which only a running or deferring task needs.
PARSE_FORBIDDEN = (
    "airflow_snowflake_batch.hooks.batch_inference",
    "airflow_snowflake_batch.triggers.batch_job",
    "airflow.providers.snowflake.hooks.snowflake",
)

_PARSE_DAG = textwrap.dedent(
    """
    import json, sys
    from datetime import datetime

    from airflow.sdk import DAG

    from airflow_snowflake_batch.operators.batch_job import SnowflakeBatchInferenceOperator
    from airflow_snowflake_batch.operators.load_results import SnowflakeLoadBatchResultsOperator
    from airflow_snowflake_batch.operators.warehouse import SnowflakeWarehouseInferenceOperator
    from airflow_snowflake_batch.sensors.batch_job import SnowflakeBatchInferenceJobSensor

    with DAG("parse_probe", start_date=datetime(2024, 1, 1), schedule=None):
        SnowflakeWarehouseInferenceOperator(
            task_id="w", model_name="M", input_table="T", output_table="O"
        )
        batch = SnowflakeBatchInferenceOperator(
            task_id="b", model_name="M", input_table="T", compute_pool="P",
            output_stage_location="@OUT/p", deferrable=True,
        )
        SnowflakeBatchInferenceJobSensor(task_id="s", job_id="DB.SC.J", deferrable=True)
        SnowflakeLoadBatchResultsOperator(
            task_id="l", output_location=batch.output["output_location"], target_table="R"
        )
    print(json.dumps(sorted(m for m in sys.modules if m in FORBIDDEN)))
    """
)


def test_parsing_a_dag_imports_neither_the_hook_nor_the_trigger():
    code = f"FORBIDDEN = {PARSE_FORBIDDEN!r}\n" + _PARSE_DAG
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_operators_default_connection_is_the_hooks():
    from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook
    from airflow_snowflake_batch.operators.batch_job import SnowflakeBatchInferenceOperator
    from airflow_snowflake_batch.utils.connection import DEFAULT_CONN_ID

    assert SnowflakeBatchInferenceHook.default_conn_name == DEFAULT_CONN_ID == "snowflake_default"
    op = SnowflakeBatchInferenceOperator(
        task_id="b", model_name="M", input_table="T", compute_pool="P", output_stage_location="@OUT"
    )
    assert op.snowflake_conn_id == DEFAULT_CONN_ID


def test_the_local_backend_submits_without_the_scoring_stack():
    """A task that submits a local job, lists files or loads results imports no pandas, numpy or pyarrow:
    only the job process (and a warehouse task, when it scores) needs them (~0.5 s of imports)."""
    probe = (
        "import json, sys\n"
        "import airflow_snowflake_batch.backends.local.backend\n"
        "print(json.dumps(sorted(m for m in ('pandas', 'numpy', 'pyarrow') if m in sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=True
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
