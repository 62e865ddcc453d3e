"""Airflow's partitioned scheduling end to end, on a real Airflow over a local workspace (Airflow 3.2+).

``dags_examples/partitioned_scoring.py`` (``CronPartitionTimetable``, one day per partition) is
backfilled over two partitions through the REST API, then one partition is rerun by clearing its run.
Which two: Airflow 3.3 reads a backfill's range as partition dates, 3.2 as run dates (the partitions are
then a day earlier, the DAG's ``run_offset``); the backfill's dry run says, and the test follows it.
The scores table must then hold both days once, the
rerun day rewritten (later ``SCORED_AT``) and the other day's rows untouched; and
``partitioned_scores_report.py`` (``PartitionedAssetTimetable``) must have run for each scored
partition with that partition key, counting only that partition's rows.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import airflow.sdk
import pandas as pd
import pytest
from packaging.version import Version

from .airflow_cluster import AirflowCluster
from .repo import EXAMPLE_DAGS, script_module

AIRFLOW_3_3 = Version(Version(airflow.__version__).base_version) >= Version("3.3.0")
if not hasattr(airflow.sdk, "CronPartitionTimetable"):
    pytest.skip("Airflow 3.1 has no partitioned scheduling", allow_module_level=True)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

demo_data = script_module("demo_data")

SCORING, REPORT = "partitioned_scoring", "partitioned_scores_report"
# Seeded days and their row counts; the backfill's range, whose two partitions are days of these.
ROWS = {"2024-05-31": 3, "2024-06-01": 4, "2024-06-02": 6}
FROM, TO = "2024-06-01", "2024-06-02"
TABLE = "ML.PUBLIC.CHURN_SCORES_PARTITIONED"


@dataclass
class Partitions:
    """What the runs left behind, collected before Airflow was stopped."""

    keys: list[str]  # the two partitions the backfill scored, as its dry run listed them

    scoring_runs: list[dict[str, Any]]
    report_runs: list[dict[str, Any]]  # in the order they were created
    report_results: dict[str, Any]  # run_id -> what summarize_partition returned
    events: list[dict[str, Any]]  # the scoring DAG's asset events
    before: pd.DataFrame  # the table after the two partitions were scored
    after: pd.DataFrame  # ... and after the rerun of the first one
    features: pd.DataFrame


def _runs(cluster: AirflowCluster, dag_id: str) -> list[dict[str, Any]]:
    _, body = cluster.api("GET", f"/api/v2/dags/{dag_id}/dagRuns?order_by=id&limit=50")
    return (body or {}).get("dag_runs", [])


def _done(runs: list[dict[str, Any]], keys: list[str]) -> list[dict[str, Any]] | None:
    """The runs of the partitions ``keys`` (one each, or as many as ``keys`` repeats a key), once all
    finished; None before. Runs of other partitions are left out: unpausing the scoring DAG makes
    the scheduler run its latest partition (today's), which these tests do not look at."""
    ours = [r for r in runs if r["partition_key"] in keys]
    done = sorted(r["partition_key"] for r in ours) == sorted(keys)
    return ours if done and all(r["state"] in ("success", "failed") for r in ours) else None


@pytest.fixture(scope="module")
def partitions(tmp_path_factory: pytest.TempPathFactory) -> Partitions:
    from airflow_snowflake_batch.local import LocalWorkspace

    base = tmp_path_factory.mktemp("partitions")
    workspace = LocalWorkspace(base / "workspace")
    features = demo_data.customer_features(list(ROWS), list(ROWS.values()))
    demo_data.seed_workspace(workspace, features, demo_data.train_churn_model())

    cluster = AirflowCluster(
        base / "airflow",
        extra_env={
            "AIRFLOW_CONN_SNOWFLAKE_DEFAULT": workspace.connection_uri(),
            # The report's runs are created by the scheduler from the partitioned asset events. The
            # scoring DAG itself gets no scheduled run here: its first tick is tomorrow's midnight.
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "True",
        },
    )
    for dag_id in (SCORING, REPORT):
        shutil.copy(EXAMPLE_DAGS / f"{dag_id}.py", cluster.dags_folder)
    started = time.monotonic()

    def phase(name: str) -> None:  # informational: where the time goes
        print(f"{name}: {time.monotonic() - started:.0f} s")

    try:
        cluster.start()
        phase("Airflow started")
        cluster.login()
        for dag_id in (SCORING, REPORT):
            cluster.wait_for_dag(dag_id)
            status, body = cluster.api("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
            assert status == 200, f"Unpausing {dag_id} failed: HTTP {status} {body}"
        # Unpausing makes the scheduler run the latest partition (catchup=False). Let it create that
        # run before the backfill creates its own: on SQLite the two writers racing can crash the
        # scheduler (apache/airflow#63926, docs/howto/backfills.rst).
        cluster.until(lambda: _runs(cluster, SCORING), 60, what="the scheduled run of the latest partition")
        # A backfill of a partitioned DAG: one run per partition of the range; the dry run lists them.
        backfill = {"dag_id": SCORING, "from_date": f"{FROM}T00:00:00Z", "to_date": f"{TO}T00:00:00Z"}
        status, body = cluster.api("POST", "/api/v2/backfills/dry_run", backfill)
        assert status == 200, f"The backfill's dry run failed: HTTP {status} {body}"
        days = sorted(b["partition_key"] for b in body["backfills"])
        assert len(days) == 2 and set(days) <= set(ROWS), days
        rerun_day = days[0]
        status, body = cluster.api("POST", "/api/v2/backfills", {**backfill, "max_active_runs": 2})
        assert status == 200, f"Creating the backfill failed: HTTP {status} {body}"
        cluster.until(lambda: _done(_runs(cluster, SCORING), days), 240, what="the two partitions scored")
        cluster.until(lambda: _done(_runs(cluster, REPORT), days), 120, what="their two report runs")
        phase("two partitions scored and reported")
        before = workspace.read_table(TABLE)

        # Rerun one partition: clear its run (3.3 can also select it by partition_key: clearDagRuns).
        (rerun,) = [r for r in _runs(cluster, SCORING) if r["partition_key"] == rerun_day]
        status, body = cluster.api(
            "POST",
            f"/api/v2/dags/{SCORING}/dagRuns/{quote(rerun['dag_run_id'], safe='')}/clear",
            {"dry_run": False},
        )
        assert status == 200, f"Clearing partition {rerun_day} failed: HTTP {status} {body}"

        def rerun_done() -> bool:
            (run,) = [r for r in _runs(cluster, SCORING) if r["dag_run_id"] == rerun["dag_run_id"]]
            return run["state"] in ("success", "failed") and run["end_date"] != rerun["end_date"]

        cluster.until(rerun_done, 180, what=f"the rerun of partition {rerun_day}")
        report_runs = cluster.until(
            lambda: _done(_runs(cluster, REPORT), [*days, rerun_day]),
            120,
            what="the report of the rerun partition",
        )
        phase("rerun scored and reported")
        scoring_runs = [r for r in _runs(cluster, SCORING) if r["partition_key"] in days]
        report_results = {
            r["dag_run_id"]: (
                cluster.api(
                    "GET",
                    f"/api/v2/dags/{REPORT}/dagRuns/{quote(r['dag_run_id'], safe='')}/taskInstances/"
                    "summarize_partition/xcomEntries/return_value?deserialize=true",
                )[1]
                or {}
            ).get("value")
            for r in report_runs
        }
        _, events = cluster.api("GET", f"/api/v2/assets/events?source_dag_id={SCORING}&limit=50")
        after = workspace.read_table(TABLE)
    finally:
        cluster.stop()
    return Partitions(
        keys=days,
        scoring_runs=scoring_runs,
        report_runs=report_runs,
        report_results=report_results,
        events=[e for e in (events or {}).get("asset_events", []) if e["partition_key"] in days],
        before=before,
        after=after,
        features=features,
    )


def _partition(table: pd.DataFrame, day: str) -> pd.DataFrame:
    rows = table[table["AIRFLOW_PARTITION_KEY"] == day]
    return rows.sort_values("CUSTOMER_ID").reset_index(drop=True)


def test_each_partition_was_scored_by_its_own_run(partitions: Partitions) -> None:
    # Airflow 3.3: the range's dates are the partitions; 3.2: the run dates, a day after them.
    expected = [FROM, TO] if AIRFLOW_3_3 else ["2024-05-31", FROM]
    assert partitions.keys == expected
    runs = {r["partition_key"]: r["state"] for r in partitions.scoring_runs}
    assert runs == dict.fromkeys(partitions.keys, "success")


def test_the_rerun_replaced_only_its_own_partition(partitions: Partitions) -> None:
    before, after, features = partitions.before, partitions.after, partitions.features
    rerun, other = partitions.keys
    for table in (before, after):
        # Each day once: that day's customers, no duplicate after the rerun, nothing of another day.
        for day in partitions.keys:
            rows = _partition(table, day)
            expected = sorted(features.loc[features["FEATURE_DATE"].astype(str) == day, "CUSTOMER_ID"])
            assert len(rows) == ROWS[day] and sorted(rows["CUSTOMER_ID"]) == expected
    # The other partition untouched, to the timestamp; the rerun partition written again, later.
    pd.testing.assert_frame_equal(_partition(after, other), _partition(before, other))
    assert (_partition(after, rerun)["SCORED_AT"] > _partition(before, rerun)["SCORED_AT"].max()).all()


def test_the_asset_events_carry_the_partition_key(partitions: Partitions) -> None:
    rerun = partitions.keys[0]
    keys = sorted(e["partition_key"] for e in partitions.events)
    assert keys == sorted([*partitions.keys, rerun])  # the rerun landed its partition again
    for event in partitions.events:
        assert event["extra"]["partition"] == {"AIRFLOW_PARTITION_KEY": event["partition_key"]}


def test_the_report_ran_once_per_scored_partition_reading_only_it(partitions: Partitions) -> None:
    runs = partitions.report_runs
    assert [r["state"] for r in runs] == ["success"] * 3
    # One run per partition landed: the two of the backfill, then the rerun partition again.
    assert sorted(r["partition_key"] for r in runs[:2]) == partitions.keys
    assert runs[2]["partition_key"] == partitions.keys[0]
    for run in runs:
        key = run["partition_key"]
        assert partitions.report_results[run["dag_run_id"]] == {"partition_key": key, "rows": ROWS[key]}
