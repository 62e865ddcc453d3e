"""
Nightly scoring on a warehouse: each night, score that day's customer features with the registered
churn-risk model and write the scores into one partition (``SCORE_DATE``) of a table.

Runs unchanged on Snowflake and on the embedded local workspace: only the ``snowflake_default``
connection differs (a ``snowflake`` connection, or a ``snowflake_batch_local`` one, see README).
Rerunning a day replaces that day's rows, so the DAG is safe to clear and to backfill.
Each run emits an event of the asset ``CHURN_SCORES`` (with the day and the model version in its
``extra``), which schedules ``churn_scores_report``.

Objects it expects (``scripts/demo.py`` creates them on a local workspace):

- ``ML.PUBLIC.CUSTOMER_FEATURES``: CUSTOMER_ID, FEATURE_DATE, TENURE_MONTHS, MONTHLY_CHARGES, SUPPORT_CALLS
- model ``ML.PUBLIC.CHURN_RISK`` version ``V1`` with a ``predict`` function over the three features
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, Asset

from airflow_snowflake_batch.operators.warehouse import SnowflakeWarehouseInferenceOperator

DAG_ID = "nightly_warehouse_scoring"
# Your Snowflake account identifier (<org>-<account>): set it once. It only names the asset below, in
# the Snowflake provider's URI form snowflake://<account>/<DB>/<SCHEMA>/<TABLE>, so that OpenLineage
# names the asset like the table; scheduling matches the asset by name, on Snowflake and locally alike.
SNOWFLAKE_ACCOUNT = "myorg-myaccount"
# churn_scores_report.py is scheduled on this asset by its name (Asset.ref(name="churn_scores")).
CHURN_SCORES = Asset(name="churn_scores", uri=f"snowflake://{SNOWFLAKE_ACCOUNT}/ML/PUBLIC/CHURN_SCORES")

with DAG(
    dag_id=DAG_ID,
    description="Score the day's customers with ML.PUBLIC.CHURN_RISK on a warehouse.",
    schedule="@daily",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=2)},
    tags=["snowflake", "ml", "example"],
) as dag:
    # [START howto_operator_snowflake_warehouse_inference]
    score_customers = SnowflakeWarehouseInferenceOperator(
        task_id="score_customers",
        model_name="ML.PUBLIC.CHURN_RISK",
        version_name="V1",
        function_name="predict",
        input_query="""
            SELECT CUSTOMER_ID, TENURE_MONTHS, MONTHLY_CHARGES, SUPPORT_CALLS
            FROM ML.PUBLIC.CUSTOMER_FEATURES
            WHERE FEATURE_DATE = '{{ ds }}'
        """,
        output_table="ML.PUBLIC.CHURN_SCORES",
        # Only this day's rows are replaced (a rerun never duplicates them); earlier days stay.
        output_partition={"SCORE_DATE": "{{ ds }}"},
        snowflake_conn_id="snowflake_default",
        # On success, an asset event whose extra holds the table, rows, partition and model version.
        outlets=[CHURN_SCORES],
    )
    # [END howto_operator_snowflake_warehouse_inference]
