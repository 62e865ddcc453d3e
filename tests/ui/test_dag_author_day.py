"""A DAG author's day in the Airflow UI: a real Airflow (API server, scheduler, dag-processor,
triggerer; LocalExecutor; SQLite) on loopback and a real headless Chromium, on a local workspace.

One Airflow for the module; the tests run in file order, each picking up where the previous left
(as a user would): the DAG list, the connection form, a backfill from the Backfill dialog (a batch
task seen Deferred then Success, its log, its extra link to the provider's job page), a reprocess of
all runs, and a deferred task marked failed while no triggerer runs (the listener cancels its job).
Screenshots of every step go to the folder printed at the start (``UI_SCREENSHOTS`` to choose it).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from e2e.airflow_cluster import PASSWORD, USER, AirflowCluster
from e2e.repo import EXAMPLE_DAGS, script_module

from .browser import Browser

pytestmark = [pytest.mark.ui, pytest.mark.timeout(600)]

demo_data = script_module("demo_data")

DAG_ID, BATCH_TASK, TABLE = "nightly_batch_scoring", "score_batch", "ML.PUBLIC.CHURN_SCORES_BATCH"
MARK_DAG = "ui_mark_deferred_failed"
SEEDED = ["2024-06-04", "2024-06-05", "2024-06-06", "2024-06-07"]
ROWS = [3, 4, 6, 5]  # different per day; 2024-06-04 is not backfilled and must stay unscored
BACKFILLED = SEEDED[1:]
# Long enough that the batch task finds its job running and defers; shorter than its poll interval (15 s).
JOB_DELAY_SECONDS = "6"

# A batch task whose job runs for minutes: marked failed while deferred, its job must be cancelled.
MARK_DAG_FILE = f'''
import os
from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from airflow_snowflake_batch.operators.batch_job import SnowflakeBatchInferenceOperator

# Read by the local backend in the task process that submits the job (each task parses its own file).
os.environ["AIRFLOW_SNOWFLAKE_BATCH_LOCAL_JOB_DELAY"] = "300"

with DAG(dag_id="{MARK_DAG}", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")):
    SnowflakeBatchInferenceOperator(
        task_id="{BATCH_TASK}",
        model_name="ML.PUBLIC.CHURN_RISK",
        version_name="V1",
        input_query="SELECT CUSTOMER_ID, TENURE_MONTHS, MONTHLY_CHARGES, SUPPORT_CALLS FROM ML.PUBLIC.CUSTOMER_FEATURES",
        compute_pool="POOL",
        output_stage_location="@ML.PUBLIC.BATCH_OUTPUT/marked/",
        deferrable=True,
        poll_interval=5,
        timeout=timedelta(minutes=10),
    )
'''


@dataclass
class Day:
    """The module's Airflow, browser and workspace."""

    cluster: AirflowCluster
    browser: Browser
    workspace: Any
    shots: Path

    def api_ok(self, method: str, path: str, body: Any = None) -> Any:
        """Call the REST API; a "database is locked" answer (SQLite on a busy machine: HTTP 500
        "Database error") is asked again for up to a minute, as a user would click again."""
        deadline = time.monotonic() + 60
        while True:
            status, answer = self.cluster.api(method, path, body)
            if not (status == 500 and "Database error" in str(answer) and time.monotonic() < deadline):
                break
            time.sleep(3)
        assert status is not None and 200 <= status < 300, f"{method} {path}: HTTP {status} {answer}"
        return answer

    def open(self, path: str) -> None:
        self.browser.get(self.cluster.base_url + path)


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Day]:
    from airflow_snowflake_batch.local import LocalWorkspace

    shots = Path(os.environ.get("UI_SCREENSHOTS") or tmp_path_factory.mktemp("ui-screenshots"))
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():  # shown even while pytest captures output
            reporter.write_line(f"\ntests/ui screenshots: {shots}")

    root = tmp_path_factory.mktemp("ui-airflow")
    workspace = LocalWorkspace(root / "workspace", database=demo_data.DATABASE, schema=demo_data.SCHEMA)
    demo_data.seed_workspace(
        workspace, demo_data.customer_features(SEEDED, ROWS), demo_data.train_churn_model()
    )
    cluster = AirflowCluster(
        root / "airflow",
        extra_env={
            "AIRFLOW_CONN_SNOWFLAKE_DEFAULT": workspace.connection_uri(),
            "AIRFLOW_SNOWFLAKE_BATCH_LOCAL_JOB_DELAY": JOB_DELAY_SECONDS,
        },
    )
    shutil.copy(EXAMPLE_DAGS / f"{DAG_ID}.py", cluster.dags_folder)
    (cluster.dags_folder / f"{MARK_DAG}.py").write_text(MARK_DAG_FILE)
    browser = None
    try:
        cluster.start()
        cluster.login()
        cluster.wait_for_dag(DAG_ID)
        cluster.wait_for_dag(MARK_DAG)
        browser = Browser(shots)
        yield Day(cluster, browser, workspace, shots)
    finally:
        if browser is not None:
            browser.quit()
        cluster.stop()


def _run_id(date: str) -> str:
    return f"backfill__{date}T00:00:00+00:00"


def _ti_page(dag_id: str, run_id: str, task_id: str) -> str:
    return f"/dags/{dag_id}/runs/{quote(run_id, safe='')}/tasks/{task_id}"


def _scores_per_day(day: Day) -> dict[str, int]:
    frame = day.workspace.read_table(TABLE)
    return {str(k)[:10]: int(v) for k, v in frame.groupby("SCORE_DATE").size().items()}


def _runs(day: Day) -> dict[str, dict[str, Any]]:
    runs = day.api_ok("GET", f"/api/v2/dags/{DAG_ID}/dagRuns?limit=50")["dag_runs"]
    return {r["dag_run_id"]: r for r in runs}


OK = "Backfill jobs have been successfully triggered."


def _backfill_from_dialog(day: Day, first: str, last: str, reprocess: str) -> None:
    """Trigger > Backfill, the date range typed into the pickers, ``reprocess`` ticked, 3 at once."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    b = day.browser
    day.open(f"/dags/{DAG_ID}")
    b.click_text("Trigger", tag="button")
    b.wait_text("Run this Dag for a range of dates")
    b.click_text("Backfill", tag="span")
    b.wait_text("Date Range")
    for date in (first, last):  # "From" first; once set, the next empty picker is "To"
        b.driver.find_element(By.XPATH, "//p[normalize-space(.)='Select date and time']").click()
        date_input = b.wait(
            lambda: [
                x
                for x in b.driver.find_elements(By.CSS_SELECTOR, "input[placeholder='YYYY/MM/DD']")
                if x.is_displayed()
            ][0],
            10,
            "the date picker",
        )
        date_input.send_keys(date.replace("-", "/"))
        time_input = [
            x
            for x in b.driver.find_elements(By.CSS_SELECTOR, "input[placeholder='HH:mm']")
            if x.is_displayed()
        ][0]
        time_input.send_keys("00:00", Keys.ESCAPE)
    b.click_text(reprocess, tag="span")
    max_runs = b.driver.find_element(By.CSS_SELECTOR, "input[name=max_active_runs]")
    max_runs.send_keys(Keys.CONTROL, "a")  # selects the "1"; a separate call, so "3" is typed without Ctrl
    max_runs.send_keys("3")
    b.wait_text(f"{len(BACKFILLED)} runs will be triggered.", 10)
    b.shot(f"backfill-dialog-{reprocess.replace(' ', '-').lower()}")
    # On SQLite a busy scheduler can hold the database lock past the API server's wait: the dialog
    # then shows "Database error" (HTTP 500/503) and creates nothing. A user clicks again; so do we.
    for attempt in range(6):
        b.click_text("Run Backfill", tag="button")
        outcome = b.wait(
            lambda: next(
                (t for t in (OK, "Internal Server Error", "Service Unavailable") if t in b.text()), None
            ),
            60,
            "the backfill to be created or refused",
        )
        if outcome == OK:
            return
        b.shot(f"backfill-refused-{attempt + 1}")
        time.sleep(5)
    raise AssertionError(f"The Backfill dialog kept failing; screenshots in {day.shots}")


def _wait_runs_done(
    day: Day, since: dict[str, str | None], timeout: float = 240
) -> dict[str, dict[str, Any]]:
    """Wait until every backfilled day's run ended after ``since`` (run id -> previous end date)."""

    def done() -> dict[str, dict[str, Any]] | None:
        runs = _runs(day)
        mine = {d: runs.get(_run_id(d)) for d in BACKFILLED}
        if all(
            r and r["state"] in ("success", "failed") and r["end_date"] != since.get(_run_id(d))
            for d, r in mine.items()
        ):
            return mine  # type: ignore[return-value]
        return None

    return day.cluster.until(done, timeout, what=f"the {len(BACKFILLED)} backfill runs to end")


# -- the tests, in the order a DAG author goes --------------------------------------------------


def test_dag_list_shows_the_dags_and_no_import_error(day: Day) -> None:
    from selenium.webdriver.common.by import By

    b = day.browser
    day.open("/")
    b.wait(lambda: b.driver.find_element(By.NAME, "username"), 60, "the login form")
    b.driver.find_element(By.NAME, "username").send_keys(USER)
    b.driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    b.click_text("Sign in", tag="button")
    b.wait_text("Welcome")
    day.open("/dags")
    text = b.wait_text(DAG_ID)
    b.shot("dag-list")
    assert MARK_DAG in text
    # The UI shows a "Dag Import Errors" button only when there are some.
    assert "Import Error" not in text
    assert day.api_ok("GET", "/api/v2/importErrors")["total_entries"] == 0


def test_local_connection_form_shows_its_fields(day: Day) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    b = day.browser
    day.open("/connections")
    b.click_text("Add Connection", tag="button", timeout=60)
    chooser = b.wait(
        lambda: b.driver.find_element(By.CSS_SELECTOR, "input[role=combobox]"), 30, "the type chooser"
    )
    chooser.click()
    chooser.send_keys("Snowflake Batch")  # a searchable select: type, then pick the match
    b.click_text("Snowflake Batch Inference (local workspace)", timeout=20)
    b.click_text("Extra Fields", timeout=20)
    text = b.wait_text("Schema of unqualified names", 20)  # the last field's description: all are drawn
    b.shot("connection-form")
    for label in ("Workspace", "Database", "Schema"):
        assert label in text
    assert "Folder of the local workspace (LocalWorkspace(path))" in text  # the field's description
    # The standard fields a workspace does not use are hidden (ui-field-behaviour).
    for hidden in ("Host", "Login", "Password", "Port"):
        assert hidden not in text
    b.driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)


def test_backfill_from_the_dialog_defers_and_shows_the_job(day: Day) -> None:
    from selenium.webdriver.common.by import By

    b = day.browser
    _backfill_from_dialog(day, BACKFILLED[0], BACKFILLED[-1], "Missing Runs")

    # A batch task of the first day: Deferred while its job runs, then Success.
    day.open(_ti_page(DAG_ID, _run_id(BACKFILLED[0]), BATCH_TASK))
    b.wait(
        lambda: "Deferred" in b.text() or (b.driver.refresh() and False),
        120,
        "the batch task Deferred",
        interval=2,
    )
    b.shot("task-deferred")
    b.wait(
        lambda: "Success" in b.text() or (b.driver.refresh() and False),
        120,
        "the batch task Success",
        interval=2,
    )
    log = b.wait_text("Logs of batch inference job", 60)
    b.shot("task-log")
    assert "Scored" in log  # the job's own log, copied into the task's

    b.click_text("Details")
    b.wait_text("Extra Links")
    link = b.driver.find_element(By.XPATH, "//a[normalize-space(.)='Batch Inference Job']")
    assert link.get_attribute("href").startswith(day.cluster.base_url + "/snowflake-batch/job?")
    b.shot("extra-link")
    link.click()
    page = b.wait_text("Batch inference job", 30)
    b.shot("job-page")
    assert "DONE" in page and "_SUCCESS" in page and f"Scored {ROWS[1]} rows" in page

    runs = _wait_runs_done(day, {})
    assert {d: r["state"] for d, r in runs.items()} == dict.fromkeys(BACKFILLED, "success")
    assert _scores_per_day(day) == dict(zip(BACKFILLED, ROWS[1:], strict=True))


def test_reprocessing_all_runs_duplicates_nothing(day: Day) -> None:
    # One backfill per DAG at a time: the first must be marked completed (a 30 s timer) first.
    day.cluster.until(
        lambda: all(
            b["completed_at"] for b in day.api_ok("GET", f"/api/v2/backfills?dag_id={DAG_ID}")["backfills"]
        ),
        120,
        what="the first backfill to be completed",
    )
    before = {run_id: r["end_date"] for run_id, r in _runs(day).items()}
    _backfill_from_dialog(day, BACKFILLED[0], BACKFILLED[-1], "All Runs")
    runs = _wait_runs_done(day, before)
    day.open(f"/dags/{DAG_ID}/runs")
    day.browser.wait_text(_run_id(BACKFILLED[-1]))
    day.browser.shot("runs-after-reprocess")
    assert {d: r["state"] for d, r in runs.items()} == dict.fromkeys(BACKFILLED, "success")
    assert len(_runs(day)) == len(BACKFILLED)  # the same runs again, no new ones
    assert _scores_per_day(day) == dict(zip(BACKFILLED, ROWS[1:], strict=True))


def test_marking_a_deferred_task_failed_cancels_its_job_without_a_triggerer(day: Day) -> None:
    from airflow_snowflake_batch.backends.local.backend import LocalBackend

    # No triggerer: the trigger is never run, so only the listener in the API server can cancel.
    day.cluster.kill_component("triggerer")
    day.api_ok("PATCH", f"/api/v2/dags/{MARK_DAG}", {"is_paused": False})
    run_id = day.api_ok("POST", f"/api/v2/dags/{MARK_DAG}/dagRuns", {"logical_date": None})["dag_run_id"]
    ti_path = f"/api/v2/dags/{MARK_DAG}/dagRuns/{quote(run_id, safe='')}/taskInstances/{BATCH_TASK}"
    day.cluster.until(
        lambda: day.api_ok("GET", ti_path)["state"] == "deferred", 180, what="the task deferred"
    )
    job = day.api_ok("GET", f"{ti_path}/xcomEntries/snowflake_batch_job?deserialize=true")["value"]
    backend = LocalBackend(day.workspace.root)
    assert backend.get_job_state(job["job_id"]).status.value in ("PENDING", "RUNNING")

    day.open(_ti_page(MARK_DAG, run_id, BATCH_TASK))
    day.browser.wait_text("Deferred", 60)
    day.browser.shot("marked-task-deferred")
    marked = time.monotonic()
    day.api_ok("PATCH", ti_path, {"new_state": "failed"})

    state = day.cluster.until(
        lambda: (s := backend.get_job_state(job["job_id"])) and s.status.is_terminal and s,
        60,
        what="the marked task's job to end",
    )
    assert state.status.value == "CANCELLED", state
    assert time.monotonic() - marked < 60
    assert f"Batch inference job {job['job_id']} of marked task" in day.cluster.log_text("api-server")
