"""
Report on each day's churn scores as soon as they land: scheduled on the ``churn_scores`` asset that
``nightly_warehouse_scoring`` updates, not on a clock.

The asset event's ``extra`` (written by the warehouse operator) says which partition landed, how many
rows, and which model version scored them, so this DAG needs no XCom from the other DAG.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Asset, task

# The same asset as in nightly_warehouse_scoring.py (assets match by name and URI).
CHURN_SCORES = Asset(name="churn_scores", uri="snowflake://local/ML/PUBLIC/CHURN_SCORES")

with DAG(
    dag_id="churn_scores_report",
    description="Summarize each day's churn scores when nightly_warehouse_scoring lands them.",
    # [START howto_asset_scores_consumer]
    schedule=[CHURN_SCORES],
    # [END howto_asset_scores_consumer]
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["snowflake", "ml", "example"],
) as dag:

    @task
    def summarize(triggering_asset_events=None) -> list[dict]:
        """One line per scores event: the partition, the rows and the model version that made them."""
        landed = []
        for event in (triggering_asset_events or {}).get(CHURN_SCORES, []):
            extra = event.extra
            landed.append(
                {
                    "table": extra.get("table"),
                    "partition": extra.get("partition"),
                    "rows": extra.get("rows"),
                    "model_version": extra.get("model_version"),
                }
            )
            print(
                f"{extra.get('table')} {extra.get('partition')}: {extra.get('rows')} rows by {extra.get('model')} {extra.get('model_version')}"
            )
        return landed

    summarize()
