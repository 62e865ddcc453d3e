"""
Backfill-ready daily scoring: every run scores only its own day (``{{ ds }}``) and replaces only
that day's partition, so any range of past days can be (re)filled from the UI's *Backfill* dialog,
the REST API (``POST /api/v2/backfills``) or ``airflow backfill create``, in any order, any number of
times, with no duplicates.

Each day is scored twice, once per way the provider offers, into two tables:

- on a warehouse, into ``ML.PUBLIC.DAILY_SCORES_WAREHOUSE``;
- as a deferrable batch job on a compute pool, loaded into ``ML.PUBLIC.DAILY_SCORES_BATCH``.

Runs unchanged on Snowflake and on the embedded local workspace: only the ``snowflake_default``
connection differs. It expects the objects listed in ``nightly_batch_scoring.py``.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from airflow_snowflake_batch.operators.batch_job import SnowflakeBatchInferenceOperator
from airflow_snowflake_batch.operators.load_results import SnowflakeLoadBatchResultsOperator
from airflow_snowflake_batch.operators.warehouse import SnowflakeWarehouseInferenceOperator

DAG_ID = "backfill_scoring"

# Only this day's rows: a run never reads or writes another day, which is what makes reruns safe.
DAY_QUERY = """
    SELECT CUSTOMER_ID, TENURE_MONTHS, MONTHLY_CHARGES, SUPPORT_CALLS
    FROM ML.PUBLIC.CUSTOMER_FEATURES
    WHERE FEATURE_DATE = '{{ ds }}'
"""

# [START howto_backfill_scoring]
with DAG(
    dag_id=DAG_ID,
    description="Score one day of customer features per run; backfill any range of days.",
    schedule="@daily",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    # Backfills are created explicitly (UI, API, CLI); catchup=True would also work, as every run is
    # idempotent, but would schedule every day since start_date as soon as the DAG is unpaused.
    catchup=False,
    # How many days a backfill scores at once; each holds a warehouse query or a compute-pool job.
    max_active_runs=3,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
    tags=["snowflake", "ml", "example", "backfill"],
) as dag:
    score_on_warehouse = SnowflakeWarehouseInferenceOperator(
        task_id="score_on_warehouse",
        model_name="ML.PUBLIC.CHURN_RISK",
        version_name="V1",
        function_name="predict",
        input_query=DAY_QUERY,
        output_table="ML.PUBLIC.DAILY_SCORES_WAREHOUSE",
        output_partition={"SCORE_DATE": "{{ ds }}"},
    )

    score_in_batch = SnowflakeBatchInferenceOperator(
        task_id="score_in_batch",
        model_name="ML.PUBLIC.CHURN_RISK",
        version_name="V1",
        function_name="predict",
        input_query=DAY_QUERY,
        compute_pool="ML_BATCH_POOL",
        output_stage_location="@ML.PUBLIC.BATCH_OUTPUT/daily_scores/",
        deferrable=True,
        poll_interval=15,
        timeout=timedelta(hours=2),
    )

    load_batch_scores = SnowflakeLoadBatchResultsOperator(
        task_id="load_batch_scores",
        output_location=score_in_batch.output["output_location"],
        target_table="ML.PUBLIC.DAILY_SCORES_BATCH",
        output_partition={"SCORE_DATE": "{{ ds }}"},
    )

    score_in_batch >> load_batch_scores
# [END howto_backfill_scoring]
