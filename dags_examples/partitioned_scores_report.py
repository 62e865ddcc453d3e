"""
A report per partition (Airflow 3.2+): scheduled on the ``churn_scores_partitioned`` asset with
``PartitionedAssetTimetable``, so each partition ``partitioned_scoring`` scores starts one run of this
DAG with the same ``partition_key``; the run reads only that partition's rows.

A rerun of a partition upstream lands it again and so reports it again; the other partitions are not
reported again. On Airflow 3.1 (no partitioned scheduling) this file defines no DAG.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Asset, task

try:
    from airflow.sdk import PartitionedAssetTimetable
except ImportError:  # Airflow 3.1: no partitioned scheduling, so no DAG here
    PartitionedAssetTimetable = None

# The asset partitioned_scoring.py declares (and gives its URI), referred to by its name only.
DAILY_SCORES = "churn_scores_partitioned"
SCORES_TABLE = "ML.PUBLIC.CHURN_SCORES_PARTITIONED"

if PartitionedAssetTimetable is not None:
    with DAG(
        dag_id="partitioned_scores_report",
        description="Summarize each partition of churn scores when partitioned_scoring lands it.",
        # [START howto_partitioned_report]
        # The default partition mapper (IdentityMapper) gives this run the upstream partition key as is.
        schedule=PartitionedAssetTimetable(assets=Asset.ref(name=DAILY_SCORES)),
        # [END howto_partitioned_report]
        start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
        catchup=False,
        tags=["snowflake", "ml", "example", "partitions"],
    ) as dag:

        @task
        def summarize_partition(dag_run=None) -> dict:
            """The rows of this run's partition only, counted where they are (Snowflake or local)."""
            from datetime import date

            from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook

            key = dag_run.partition_key
            # A day key ("2024-06-01"): parsed, so nothing but a date reaches the SQL text.
            day = date.fromisoformat(key).isoformat()
            query = f"SELECT * FROM {SCORES_TABLE} WHERE AIRFLOW_PARTITION_KEY = '{day}'"
            with SnowflakeBatchInferenceHook("snowflake_default") as hook:
                counts = hook.backend.count_input(hook.input_source(input_query=query), [])
            print(f"{SCORES_TABLE} partition {key}: {counts.rows} rows")
            return {"partition_key": key, "rows": counts.rows}

        summarize_partition()
