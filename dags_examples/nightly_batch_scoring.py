"""
Nightly scoring with a batch inference job on a Snowpark Container Services compute pool, then
loading the job's Parquet results into one partition (``SCORE_DATE``) of a table.

The job task is deferrable: while the job runs, the triggerer watches it and no worker slot is held.
A retry re-attaches to the job of the failed try instead of paying for a second one.

Runs unchanged on Snowflake and on the embedded local workspace: only the ``snowflake_default``
connection differs. Objects it expects (``scripts/demo.py`` creates them on a local workspace):

- ``ML.PUBLIC.CUSTOMER_FEATURES``: CUSTOMER_ID, FEATURE_DATE, TENURE_MONTHS, MONTHLY_CHARGES, SUPPORT_CALLS
- model ``ML.PUBLIC.CHURN_RISK`` version ``V1`` with a ``predict`` function over the three features
- compute pool ``ML_BATCH_POOL`` and internal stage ``ML.PUBLIC.BATCH_OUTPUT`` (``SNOWFLAKE_SSE`` encryption)
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from airflow_snowflake_batch.operators.batch_job import SnowflakeBatchInferenceOperator
from airflow_snowflake_batch.operators.load_results import SnowflakeLoadBatchResultsOperator

DAG_ID = "nightly_batch_scoring"

with DAG(
    dag_id=DAG_ID,
    description="Score the day's customers with ML.PUBLIC.CHURN_RISK in a batch job, then load the scores.",
    schedule="@daily",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=2)},
    tags=["snowflake", "ml", "example"],
) as dag:
    # [START howto_operator_snowflake_batch_inference]
    score_batch = SnowflakeBatchInferenceOperator(
        task_id="score_batch",
        model_name="ML.PUBLIC.CHURN_RISK",
        version_name="V1",
        function_name="predict",
        input_query="""
            SELECT CUSTOMER_ID, TENURE_MONTHS, MONTHLY_CHARGES, SUPPORT_CALLS
            FROM ML.PUBLIC.CUSTOMER_FEATURES
            WHERE FEATURE_DATE = '{{ ds }}'
        """,
        compute_pool="ML_BATCH_POOL",
        # Each job writes to its own folder below this one: <location>/<JOB_NAME>/.
        output_stage_location="@ML.PUBLIC.BATCH_OUTPUT/churn_risk/",
        replicas=1,
        deferrable=True,
        poll_interval=15,
        timeout=timedelta(hours=2),
        snowflake_conn_id="snowflake_default",
    )
    # [END howto_operator_snowflake_batch_inference]

    # [START howto_operator_snowflake_load_batch_results]
    load_scores = SnowflakeLoadBatchResultsOperator(
        task_id="load_scores",
        output_location=score_batch.output["output_location"],
        target_table="ML.PUBLIC.CHURN_SCORES_BATCH",
        # Reloading a day (a rerun, a backfill) replaces that day's rows instead of adding them again.
        output_partition={"SCORE_DATE": "{{ ds }}"},
        snowflake_conn_id="snowflake_default",
    )
    # [END howto_operator_snowflake_load_batch_results]
