"""The local job page: what it reads (only the task's job, in its connection's workspace) and shows."""

from __future__ import annotations

import json
from unittest import mock

import pytest

from airflow_snowflake_batch.plugins import job_page
from airflow_snowflake_batch.plugins.job_page import JobView, read_job, render
from airflow_snowflake_batch.plugins.urls import job_page_url


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    from airflow_snowflake_batch.local import LocalWorkspace

    ws = LocalWorkspace(tmp_path / "ws")
    ws.create_stage("OUT")
    monkeypatch.setenv("AIRFLOW_CONN_LOCAL_WS", ws.connection_uri())
    return ws


def test_everything_shown_is_escaped():
    view = JobView(
        job={"job_id": "ML.PUBLIC.<b>J</b>", "output_location": "@X/<i>/"},
        conn_id="c",
        status="RUNNING",
        log="<script>alert(1)</script>",
        files=("<img src=x>",),
    )
    page = render(view, title="<dag>")
    assert "<script>" not in page and "<img" not in page and "<b>" not in page and "<dag>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'http-equiv="refresh"' in page  # an active job's page reloads itself


def test_an_ended_job_page_does_not_reload():
    assert "refresh" not in render(JobView(job={"job_id": "J"}, conn_id="c", status="DONE"), title="t")


def test_a_snowflake_job_gets_its_snowsight_link_and_no_workspace_read(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SF", json.dumps({"conn_type": "snowflake", "login": "u"}))
    job = {
        "job_id": "ML.PUBLIC.J",
        "output_location": "@ML.PUBLIC.OUT/J/",
        "url": "https://app.snowflake.com/x",
    }
    with mock.patch(
        "airflow_snowflake_batch.hooks.batch_inference.SnowflakeBatchInferenceHook.find_job"
    ) as find:
        view = read_job(job, {"snowflake_conn_id": "sf"})
    find.assert_not_called()
    assert view.remote_url == "https://app.snowflake.com/x"
    assert 'href="https://app.snowflake.com/x"' in render(view, title="t")


def test_a_missing_job_says_so(workspace):
    view = read_job(
        {"job_id": "ML.PUBLIC.NOPE", "output_location": "@ML.PUBLIC.OUT/NOPE/"},
        {"snowflake_conn_id": "local_ws"},
    )
    assert view.error == "" and view.status is None
    assert "does not exist" in view.message


@pytest.mark.parametrize(
    "job",
    [
        {"job_id": "ML.PUBLIC.NOPE", "output_location": "@ML.PUBLIC.OUT/../../../"},
        {"job_id": "../../etc", "output_location": "@ML.PUBLIC.OUT/x/"},
    ],
    ids=["output-location", "job-id"],
)
def test_a_crafted_job_never_reads_outside_the_workspace(workspace, tmp_path, job):
    (tmp_path / "secret.txt").write_text("secret")
    view = read_job(job, {"snowflake_conn_id": "local_ws"})
    assert view.error  # refused, with the reason shown
    assert view.files == () and "secret" not in view.log


def test_the_page_is_served_only_for_a_published_job():
    from fastapi.testclient import TestClient

    app = job_page.create_app()
    app.dependency_overrides = {}
    with mock.patch.object(job_page, "_access", return_value=lambda: None):
        app = job_page.create_app()
    client = TestClient(app)
    with mock.patch.object(job_page, "_task_records", return_value=(None, {})):
        assert client.get("/job", params={"dag_id": "d", "run_id": "r", "task_id": "t"}).status_code == 404
    view = JobView(job={"job_id": "ML.PUBLIC.J", "job_name": "J"}, conn_id="c", status="DONE", log="done")
    with (
        mock.patch.object(job_page, "_task_records", return_value=({"job_id": "ML.PUBLIC.J"}, {})) as records,
        mock.patch.object(job_page, "read_job", return_value=view),
    ):
        answer = client.get("/job", params={"dag_id": "d", "run_id": "r", "task_id": "t", "map_index": 2})
    records.assert_called_once_with("d", "r", "t", 2)
    assert answer.status_code == 200 and "ML.PUBLIC.J" in answer.text
    assert answer.headers["content-security-policy"].startswith("default-src 'none'")


def test_the_page_requires_a_logged_in_user():
    from fastapi.testclient import TestClient

    answer = TestClient(job_page.create_app()).get(
        "/job", params={"dag_id": "d", "run_id": "r", "task_id": "t"}
    )
    assert answer.status_code == 401


def test_job_page_url_is_same_origin_and_keeps_a_base_path():
    url = job_page_url(dag_id="d", run_id="backfill__2024-01-01T00:00:00+00:00", task_id="t")
    assert (
        url
        == "/snowflake-batch/job?dag_id=d&run_id=backfill__2024-01-01T00%3A00%3A00%2B00%3A00&task_id=t&map_index=-1"
    )
    prefixed = job_page_url(dag_id="d", run_id="r", task_id="t", map_index=3, base_url="https://h/airflow/")
    assert prefixed == "/airflow/snowflake-batch/job?dag_id=d&run_id=r&task_id=t&map_index=3"
