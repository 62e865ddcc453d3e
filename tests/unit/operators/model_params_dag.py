"""A DAG whose ``factor`` Param and its model's ``factor`` parameter share a name (test_model_params.py)."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param

from airflow_snowflake_batch.operators.warehouse import SnowflakeWarehouseInferenceOperator

CONN_ID = "local_model_params"

with DAG(
    "model_params",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    params={"factor": Param(10.0, type="number")},
    # So "{{ params.factor }}" renders as the number the model's parameter takes, not as text.
    render_template_as_native_obj=True,
    default_args={"snowflake_conn_id": CONN_ID, "model_name": "SCALER", "input_table": "FEATURES"},
) as dag:
    SnowflakeWarehouseInferenceOperator(
        task_id="fixed",
        output_table="FIXED",
        output_partition={"DAG_FACTOR": "{{ params.factor }}"},
        model_params={"factor": 3.0},
    )
    SnowflakeWarehouseInferenceOperator(
        task_id="chosen", output_table="CHOSEN", model_params={"factor": "{{ params.factor }}"}
    )
    SnowflakeWarehouseInferenceOperator(task_id="defaults", output_table="DEFAULTS", model_params={})
    # Written for the releases that sent params to the model: must fail, not score with the default.
    SnowflakeWarehouseInferenceOperator(task_id="old_style", output_table="OLD_STYLE")
