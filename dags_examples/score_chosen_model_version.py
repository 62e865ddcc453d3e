"""
Score a day on a warehouse with the model version a manual run chooses in the UI.

A DAG ``Param`` holds the model version: scheduled runs use its default (``V1``), and *Trigger* in
the UI shows a form where you can pick another version (or an alias) for one run, e.g. to score a day
with a candidate version before making it the default. ``version_name`` is a templated field, so it
takes ``{{ params.model_version }}``. Each version's scores go to their own partition
(``SCORE_DATE``, ``MODEL_VERSION``), so versions can be compared side by side and a rerun replaces
only its own rows.

Runs unchanged on Snowflake and on the embedded local workspace: only the ``snowflake_default``
connection differs. Objects it expects (``scripts/demo.py`` creates them on a local workspace):

- ``ML.PUBLIC.CUSTOMER_FEATURES``: CUSTOMER_ID, FEATURE_DATE, TENURE_MONTHS, MONTHLY_CHARGES, SUPPORT_CALLS
- model ``ML.PUBLIC.CHURN_RISK`` with a ``predict`` function over the three features (version ``V1``
  and any other you choose)
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param

from airflow_snowflake_batch.operators.warehouse import SnowflakeWarehouseInferenceOperator

DAG_ID = "score_chosen_model_version"

# [START howto_param_model_version]
with DAG(
    dag_id=DAG_ID,
    description="Score a day with the ML.PUBLIC.CHURN_RISK version chosen when triggering the run.",
    schedule="@daily",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    params={
        "model_version": Param(
            "V1",
            type="string",
            pattern=r"^[A-Za-z_][A-Za-z0-9_$]*$",  # a version name or alias
            title="Model version",
            description="Version (or alias) of ML.PUBLIC.CHURN_RISK that scores this run.",
        ),
    },
    tags=["snowflake", "ml", "example"],
) as dag:
    score_with_version = SnowflakeWarehouseInferenceOperator(
        task_id="score_with_version",
        model_name="ML.PUBLIC.CHURN_RISK",
        version_name="{{ params.model_version }}",  # templated: the version the run chose
        function_name="predict",
        input_query="""
            SELECT CUSTOMER_ID, TENURE_MONTHS, MONTHLY_CHARGES, SUPPORT_CALLS
            FROM ML.PUBLIC.CUSTOMER_FEATURES
            WHERE FEATURE_DATE = '{{ ds }}'
        """,
        output_table="ML.PUBLIC.CHURN_SCORES_BY_VERSION",
        # One partition per day and version: scoring with V2 leaves V1's rows of the day in place.
        output_partition={"SCORE_DATE": "{{ ds }}", "MODEL_VERSION": "{{ params.model_version }}"},
        snowflake_conn_id="snowflake_default",
    )
# [END howto_param_model_version]
