"""A DAG whose warehouse and load tasks update assets: copied into the DAGs folder for ``dag.test()``."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Asset

from airflow_snowflake_batch.operators.batch_job import SnowflakeBatchInferenceOperator
from airflow_snowflake_batch.operators.load_results import SnowflakeLoadBatchResultsOperator
from airflow_snowflake_batch.operators.warehouse import SnowflakeWarehouseInferenceOperator

CONN_ID = "asset_ws"
WAREHOUSE_SCORES = Asset(name="warehouse_scores", uri="snowflake://local/ML/PUBLIC/WAREHOUSE_SCORES")
BATCH_SCORES = Asset(name="batch_scores", uri="snowflake://local/ML/PUBLIC/BATCH_SCORES")

with DAG(
    "asset_scoring",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    default_args={"snowflake_conn_id": CONN_ID},
) as dag:
    SnowflakeWarehouseInferenceOperator(
        task_id="warehouse",
        model_name="REG",
        input_table="FEATURES",
        output_table="WAREHOUSE_SCORES",
        output_mode="append",
        output_partition={"SCORE_DATE": "{{ ds }}"},
        outlets=[WAREHOUSE_SCORES],
    )
    batch = SnowflakeBatchInferenceOperator(
        task_id="batch",
        model_name="REG",
        input_table="FEATURES",
        compute_pool="LOCAL_POOL",
        output_stage_location="@OUT/preds/",
        poll_interval=0.5,
    )
    SnowflakeLoadBatchResultsOperator(
        task_id="load",
        output_location=batch.output["output_location"],
        target_table="BATCH_SCORES",
        output_partition={"SCORE_DATE": "{{ ds }}"},
        outlets=[BATCH_SCORES],
    )
