"""
Daily scoring on Airflow's partitioned scheduling (Airflow 3.2+): each run is one partition, a day
(``CronPartitionTimetable``, partition key ``YYYY-MM-DD``), and scores only that day's features.

The warehouse operator names no ``output_partition``: in a partitioned run it writes the run's
partition key in the column ``AIRFLOW_PARTITION_KEY`` and replaces only that partition's rows, so a
rerun (clearing the run of a partition) or a backfill of a range of partitions never duplicates a day
and leaves the other days as they were. Each run's asset event carries its partition key (Airflow adds
it), so ``partitioned_scores_report`` runs once per partition scored.

Backfill a range of days from the UI (*Trigger* → *Backfill*), ``airflow backfill create`` or
``POST /api/v2/backfills``: on Airflow 3.3 the range is one of partition dates, on 3.2 one of run dates
(the partitions a day earlier); see ``docs/howto/partitions.rst``.

On Airflow 3.1 (no partitioned scheduling) this file defines no DAG.

Objects it expects: those of ``nightly_warehouse_scoring.py`` (``scripts/demo.py`` creates them on a
local workspace).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, Asset

from airflow_snowflake_batch.operators.warehouse import SnowflakeWarehouseInferenceOperator

try:
    from airflow.sdk import CronPartitionTimetable
except ImportError:  # Airflow 3.1: no partitioned scheduling, so no DAG here
    CronPartitionTimetable = None

DAG_ID = "partitioned_scoring"
# As in nightly_warehouse_scoring.py: your account identifier, only to name the asset like the table.
SNOWFLAKE_ACCOUNT = "myorg-myaccount"
# partitioned_scores_report.py is scheduled on this asset by its name.
DAILY_SCORES = Asset(
    name="churn_scores_partitioned", uri=f"snowflake://{SNOWFLAKE_ACCOUNT}/ML/PUBLIC/CHURN_SCORES_PARTITIONED"
)

if CronPartitionTimetable is not None:
    # [START howto_partitioned_scoring]
    with DAG(
        dag_id=DAG_ID,
        description="Score one day (one partition) of customer features per run.",
        # One partition per day, keyed "2024-06-01"; the run at midnight scores the day that just ended.
        schedule=CronPartitionTimetable("0 0 * * *", timezone="UTC", run_offset=-1, key_format="%Y-%m-%d"),
        start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
        catchup=False,
        default_args={"retries": 2, "retry_delay": timedelta(minutes=2)},
        tags=["snowflake", "ml", "example", "partitions"],
    ) as dag:
        score_partition = SnowflakeWarehouseInferenceOperator(
            task_id="score_partition",
            model_name="ML.PUBLIC.CHURN_RISK",
            version_name="V1",
            function_name="predict",
            # dag_run.partition_key is the run's day; SCORED_AT tells when each row was written.
            input_query="""
                SELECT CUSTOMER_ID, TENURE_MONTHS, MONTHLY_CHARGES, SUPPORT_CALLS,
                       CURRENT_TIMESTAMP AS SCORED_AT
                FROM ML.PUBLIC.CUSTOMER_FEATURES
                WHERE FEATURE_DATE = '{{ dag_run.partition_key }}'
            """,
            output_table="ML.PUBLIC.CHURN_SCORES_PARTITIONED",
            # No output_partition: the run's partition goes to AIRFLOW_PARTITION_KEY and only its rows
            # are replaced. (An explicit output_partition would win.)
            snowflake_conn_id="snowflake_default",
            outlets=[DAILY_SCORES],
        )
    # [END howto_partitioned_scoring]
