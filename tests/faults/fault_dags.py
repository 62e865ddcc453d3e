"""DAGs of the fault suite: one per scenario family, each scoring ``{{ ds }}`` into its own table.

Copied into the DAGs folder of the Airflow the suite starts. Every task records its pid and its
parent's (the task supervisor) under ``$FAULTS_MARKERS`` before it runs, so a test can SIGKILL
exactly that task's process or its supervisor. ``job_delay`` keeps each local job RUNNING that long
(the job runner reads ``AIRFLOW_SNOWFLAKE_BATCH_LOCAL_JOB_DELAY`` from the submitting task's
environment), so a fault lands while the job runs.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG

from airflow_snowflake_batch.operators.batch_job import SnowflakeBatchInferenceOperator
from airflow_snowflake_batch.operators.load_results import SnowflakeLoadBatchResultsOperator

FEATURES = "TENURE_MONTHS, MONTHLY_CHARGES, SUPPORT_CALLS"
DAY_QUERY = f"""
    SELECT CUSTOMER_ID, {FEATURES} FROM ML.PUBLIC.CUSTOMER_FEATURES WHERE FEATURE_DATE = '{{{{ ds }}}}'
"""
# A NULL feature on the day's first customer: the model raises on that row (a failing model).
FAILING_QUERY = """
    SELECT CUSTOMER_ID,
           CASE WHEN CUSTOMER_ID = 1001 THEN NULL ELSE TENURE_MONTHS END AS TENURE_MONTHS,
           MONTHLY_CHARGES, SUPPORT_CALLS
    FROM ML.PUBLIC.CUSTOMER_FEATURES WHERE FEATURE_DATE = '{{ ds }}'
"""


def record_process(job_delay: str) -> Any:
    def pre_execute(context: Any) -> None:
        os.environ["AIRFLOW_SNOWFLAKE_BATCH_LOCAL_JOB_DELAY"] = job_delay
        ti = context["ti"]
        folder = Path(os.environ["FAULTS_MARKERS"]) / ti.dag_id / ti.run_id
        folder.mkdir(parents=True, exist_ok=True)
        record = {"pid": os.getpid(), "ppid": os.getppid()}
        (folder / f"{ti.task_id}.{ti.try_number}.json").write_text(json.dumps(record))

    return pre_execute


def fault_dag(
    dag_id: str,
    *,
    deferrable: bool,
    job_delay: str = "12",
    retries: int = 2,
    execution_timeout: timedelta | None = None,
    query: str = DAY_QUERY,
) -> DAG:
    with DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=8,
        default_args={"retries": retries, "retry_delay": timedelta(seconds=2)},
        tags=["faults"],
    ) as dag:
        score = SnowflakeBatchInferenceOperator(
            task_id="score",
            model_name="ML.PUBLIC.CHURN_RISK",
            version_name="V1",
            function_name="predict",
            input_query=query,
            compute_pool="ML_BATCH_POOL",
            output_stage_location=f"@ML.PUBLIC.BATCH_OUTPUT/{dag_id}/",
            deferrable=deferrable,
            poll_interval=2,
            execution_timeout=execution_timeout,
            pre_execute=record_process(job_delay),
        )
        load = SnowflakeLoadBatchResultsOperator(
            task_id="load",
            output_location=score.output["output_location"],
            target_table=f"ML.PUBLIC.SCORES_{dag_id.upper()}",
            mode="append",
            output_partition={"SCORE_DATE": "{{ ds }}"},
            pre_execute=record_process("0"),
        )
        score >> load
    return dag


faults_sync = fault_dag("faults_sync", deferrable=False)
faults_deferred = fault_dag("faults_deferred", deferrable=True)
# Jobs that surely still run when a test marks or clears their task, however slow the machine.
faults_sync_marked = fault_dag("faults_sync_marked", deferrable=False, job_delay="30")
faults_deferred_marked = fault_dag("faults_deferred_marked", deferrable=True, job_delay="30")
# Jobs that outlive a triggerer's death and its triggers' take-over by another (20 s health threshold).
faults_ha = fault_dag("faults_ha", deferrable=True, job_delay="60")
faults_timeout = fault_dag(
    "faults_timeout", deferrable=True, job_delay="300", retries=1, execution_timeout=timedelta(seconds=40)
)
faults_failing = fault_dag("faults_failing", deferrable=True, job_delay="0", retries=1, query=FAILING_QUERY)
faults_backfill = fault_dag("faults_backfill", deferrable=True, job_delay="3")
faults_lock = fault_dag("faults_lock", deferrable=True, job_delay="0")
