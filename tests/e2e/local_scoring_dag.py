"""The DAG the local end-to-end tests run: copied into the DAGs folder, where ``dag.test()`` needs it."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from airflow_snowflake_batch.operators.batch_job import SnowflakeBatchInferenceOperator
from airflow_snowflake_batch.operators.load_results import SnowflakeLoadBatchResultsOperator
from airflow_snowflake_batch.operators.warehouse import SnowflakeWarehouseInferenceOperator
from airflow_snowflake_batch.sensors.batch_job import SnowflakeBatchInferenceJobSensor

CONN_ID = "local_ws"


def scoring_dag(deferrable: bool) -> DAG:
    with DAG(
        f"local_scoring_{'deferrable' if deferrable else 'sync'}",
        schedule=None,
        start_date=datetime(2026, 1, 1),
        default_args={"snowflake_conn_id": CONN_ID},
    ) as dag:
        SnowflakeWarehouseInferenceOperator(
            task_id="warehouse",
            model_name="REG",
            input_query="SELECT * FROM FEATURES",
            output_table="WAREHOUSE_SCORES",
            output_partition={"RUN_ID": "{{ run_id }}"},
        )
        batch = SnowflakeBatchInferenceOperator(
            task_id="batch",
            model_name="REG",
            version_name="V1",
            input_table="FEATURES",
            compute_pool="LOCAL_POOL",
            output_stage_location="@OUT/preds/",
            replicas="{{ 1 }}",
            deferrable=deferrable,
            poll_interval=1,
        )
        SnowflakeLoadBatchResultsOperator(
            task_id="load", output_location=batch.output["output_location"], target_table="BATCH_SCORES"
        )
        submit_only = SnowflakeBatchInferenceOperator(
            task_id="submit_only",
            model_name="REG",
            input_table="FEATURES",
            compute_pool="LOCAL_POOL",
            output_stage_location="@OUT/watched/",
            wait_for_completion=False,
        )
        SnowflakeBatchInferenceJobSensor(
            task_id="watch", job_id=submit_only.output["job_id"], deferrable=deferrable, poke_interval=1
        )
    return dag


sync_dag = scoring_dag(deferrable=False)
deferrable_dag = scoring_dag(deferrable=True)
