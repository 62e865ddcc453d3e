"""
Retention: each week, drop the finished batch inference jobs and remove the job folders older than
30 days that the scoring DAGs left behind.

Every batch job leaves a job service and a folder of Parquet files ``<output_stage_location>/<JOB_NAME>/``.
``SnowflakeBatchInferenceCleanupOperator`` drops the finished job services of a schema and removes the
job folders (and snowflake-ml's leftover input copies) older than ``older_than_days``; running jobs and
the folders they use are never touched. Load the results you keep into tables before they age out.

Runs unchanged on Snowflake and on the embedded local workspace: only the ``snowflake_default``
connection differs. On Snowflake the role needs ``OWNERSHIP`` of the job services (the role that
submitted them has it) and ``WRITE`` on the stage.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_snowflake_batch.operators.cleanup import SnowflakeBatchInferenceCleanupOperator

DAG_ID = "batch_jobs_cleanup"

with DAG(
    dag_id=DAG_ID,
    description="Drop finished batch jobs and remove their result folders after 30 days.",
    schedule="@weekly",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["snowflake", "ml", "example"],
) as dag:
    # [START howto_operator_snowflake_batch_inference_cleanup]
    cleanup_batch_jobs = SnowflakeBatchInferenceCleanupOperator(
        task_id="cleanup_batch_jobs",
        # The output_stage_location of the batch tasks whose jobs and folders this removes.
        output_stage_location="@ML.PUBLIC.BATCH_OUTPUT/churn_risk/",
        older_than_days=30,
        job_schema="ML.PUBLIC",  # where the jobs live: the model's schema (default: the connection's)
        # True only reports what would go (XCom: dropped_jobs, removed_folders, kept_running_jobs).
        dry_run=False,
        snowflake_conn_id="snowflake_default",
    )
    # [END howto_operator_snowflake_batch_inference_cleanup]
