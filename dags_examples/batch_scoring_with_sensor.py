"""
Submit a batch inference job without waiting for it, then wait for it with a sensor.

The batch task submits the job (``wait_for_completion=False``) and ends at once, pushing the job's id
and output folder; ``SnowflakeBatchInferenceJobSensor`` then waits for the job on the triggerer and
fails if the job fails. Splitting submit and wait lets other tasks run in between, and lets the wait
have its own timeout and retries. The sensor only watches: it never cancels the job.

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
from airflow_snowflake_batch.sensors.batch_job import SnowflakeBatchInferenceJobSensor

DAG_ID = "batch_scoring_with_sensor"

with DAG(
    dag_id=DAG_ID,
    description="Submit a ML.PUBLIC.CHURN_RISK batch job, wait for it with a sensor, then load the scores.",
    schedule="@daily",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=2)},
    tags=["snowflake", "ml", "example"],
) as dag:
    # [START howto_sensor_snowflake_batch_inference_job]
    submit_job = SnowflakeBatchInferenceOperator(
        task_id="submit_job",
        model_name="ML.PUBLIC.CHURN_RISK",
        version_name="V1",
        function_name="predict",
        input_query="""
            SELECT CUSTOMER_ID, TENURE_MONTHS, MONTHLY_CHARGES, SUPPORT_CALLS
            FROM ML.PUBLIC.CUSTOMER_FEATURES
            WHERE FEATURE_DATE = '{{ ds }}'
        """,
        compute_pool="ML_BATCH_POOL",
        output_stage_location="@ML.PUBLIC.BATCH_OUTPUT/churn_risk_sensor/",
        # Submit (or re-attach to the job of an earlier try) and end: the sensor below waits.
        wait_for_completion=False,
        snowflake_conn_id="snowflake_default",
    )

    wait_for_job = SnowflakeBatchInferenceJobSensor(
        task_id="wait_for_job",
        job_id=submit_job.output["job_id"],
        deferrable=True,  # wait on the triggerer, not in a worker slot
        poke_interval=15,
        timeout=timedelta(hours=2),
        snowflake_conn_id="snowflake_default",
    )
    # [END howto_sensor_snowflake_batch_inference_job]

    load_scores = SnowflakeLoadBatchResultsOperator(
        task_id="load_scores",
        output_location=submit_job.output["output_location"],
        target_table="ML.PUBLIC.CHURN_SCORES_SENSOR",
        output_partition={"SCORE_DATE": "{{ ds }}"},
        snowflake_conn_id="snowflake_default",
    )

    wait_for_job >> load_scores
