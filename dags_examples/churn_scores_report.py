"""
Report on each day's churn scores as soon as they land: scheduled on the ``churn_scores`` asset that
``nightly_warehouse_scoring`` updates, not on a clock.

The asset event's ``extra`` (written by the warehouse operator) says which partition landed, how many
rows, and which model version scored them, so this DAG needs no XCom from the other DAG.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Asset, task

# The asset nightly_warehouse_scoring.py declares (and gives its URI), referred to by its name only.
CHURN_SCORES = "churn_scores"

with DAG(
    dag_id="churn_scores_report",
    description="Summarize each day's churn scores when nightly_warehouse_scoring lands them.",
    # [START howto_asset_scores_consumer]
    schedule=[Asset.ref(name=CHURN_SCORES)],
    # [END howto_asset_scores_consumer]
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["snowflake", "ml", "example"],
) as dag:

    @task
    def summarize(triggering_asset_events=None) -> list[dict]:
        """One line per scores event: the partition, the rows and the model version that made them."""
        landed = []
        # Iterated and matched by name, never looked up with an Asset as a key: Asset objects are not
        # hashable on Airflow 3.1, so `(events or {}).get(asset)` fails there on a run without events.
        for asset, events in (triggering_asset_events or {}).items():
            if asset.name != CHURN_SCORES:
                continue
            for event in events:
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
                    f"{extra.get('table')} {extra.get('partition')}: {extra.get('rows')} rows"
                    f" by {extra.get('model')} {extra.get('model_version')}"
                )
        return landed

    summarize()
