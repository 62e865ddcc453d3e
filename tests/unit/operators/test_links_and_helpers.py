from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from unittest import mock
from urllib.parse import urlparse

import pytest
from airflow.models.taskinstancekey import TaskInstanceKey
from operator_support import make_context

from airflow_snowflake_batch.backends.snowflake import SnowflakeBackend
from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook
from airflow_snowflake_batch.identifiers import StageLocation
from airflow_snowflake_batch.links import JOB_XCOM_KEY, SnowflakeBatchJobLink
from airflow_snowflake_batch.local import LocalWorkspace
from airflow_snowflake_batch.operators.batch_job import SnowflakeBatchInferenceOperator
from airflow_snowflake_batch.utils.arguments import as_int, seconds
from airflow_snowflake_batch.utils.job_wait import copy_job_logs, deadline_passed, job_deadline

TI_KEY = TaskInstanceKey("scoring", "score", "manual__2026-01-01", 1, -1)


def batch_operator() -> SnowflakeBatchInferenceOperator:
    return SnowflakeBatchInferenceOperator(
        task_id="score",
        model_name="churn",
        input_table="features",
        compute_pool="pool",
        output_stage_location="@out/",
    )


def test_link_reads_the_url_pushed_at_submit():
    with mock.patch(
        "airflow_snowflake_batch.links.XCom.get_value", return_value={"url": "https://x/#/job"}
    ) as get:
        assert SnowflakeBatchJobLink().get_link(batch_operator(), ti_key=TI_KEY) == "https://x/#/job"
    get.assert_called_once_with(ti_key=TI_KEY, key=JOB_XCOM_KEY)


def test_link_is_empty_before_any_job():
    with mock.patch("airflow_snowflake_batch.links.XCom.get_value", return_value=None):
        assert SnowflakeBatchJobLink().get_link(batch_operator(), ti_key=TI_KEY) == ""


def test_snowsight_url_escapes_quoted_names():
    backend = SnowflakeBackend(
        mock.Mock(),
        default_database=None,
        default_schema=None,
        account_url="https://myorg-acct.snowflakecomputing.com",
    )

    url = backend.job_url('ML."My Schema".JOB_1', StageLocation.parse("@ML.PUBLIC.OUT/JOB_1/"))

    assert url == "https://myorg-acct.snowflakecomputing.com/#/compute/job/ML/My%20Schema/JOB_1"


def test_local_url_is_the_output_folder(tmp_path, monkeypatch):
    workspace = LocalWorkspace(tmp_path / "ws")
    workspace.create_stage("OUT")
    monkeypatch.setenv("AIRFLOW_CONN_LINK_LOCAL", workspace.connection_uri())

    with SnowflakeBatchInferenceHook("link_local") as hook:
        url = hook.job_url("JOB_1", "@OUT/preds/JOB_1/")

    assert url.startswith("file://")
    assert url.rstrip("/").endswith("/preds/JOB_1")
    assert urlparse(url).path.startswith(str(tmp_path / "ws"))


def test_job_logs_are_copied_at_error_level_when_the_job_failed():
    hook = mock.create_autospec(SnowflakeBatchInferenceHook, instance=True)
    hook.get_job_logs.return_value = "Traceback: KeyError 'AGE'\n"
    log = mock.create_autospec(logging.Logger, instance=True)

    copy_job_logs(hook, "ML.PUBLIC.J", failed=True, log=log)
    copy_job_logs(hook, "ML.PUBLIC.J", failed=False, log=log)

    assert [c.args[0] for c in log.log.call_args_list] == [logging.ERROR, logging.INFO]
    assert log.log.call_args.args[-1] == "Traceback: KeyError 'AGE'"


def test_unreadable_job_logs_only_warn():
    hook = mock.create_autospec(SnowflakeBatchInferenceHook, instance=True)
    hook.get_job_logs.side_effect = RuntimeError("service gone")
    log = mock.create_autospec(logging.Logger, instance=True)

    copy_job_logs(hook, "ML.PUBLIC.J", failed=True, log=log)

    log.warning.assert_called_once()
    log.log.assert_not_called()


def test_deadline_is_none_without_any_limit():
    assert job_deadline(make_context(), None, None) is None
    assert not deadline_passed(None)


def test_deadline_uses_the_task_start_for_execution_timeout():
    context = make_context()  # the task started 2026-01-01T00:00Z
    deadline = job_deadline(context, 10 * 24 * 3600.0, timedelta(hours=1))
    assert deadline == datetime(2026, 1, 1, 1, tzinfo=timezone.utc).timestamp()
    assert deadline_passed(deadline)  # long ago


@pytest.mark.parametrize(("value", "expected"), [("3", 3), (4, 4), ("2.0", 2), (None, None), ("", None)])
def test_as_int_casts_rendered_numbers(value, expected):
    assert as_int(value, what="replicas") == expected


@pytest.mark.parametrize("value", ["2.5", True, "many", 0])
def test_as_int_rejects_non_whole_numbers(value):
    with pytest.raises(ValueError, match="replicas must"):
        as_int(value, what="replicas")


def test_seconds_accepts_numbers_and_timedeltas():
    assert seconds(timedelta(minutes=2), what="timeout") == 120.0
    assert seconds("30", what="poll_interval") == 30.0
    with pytest.raises(ValueError, match="poll_interval must be a number of seconds"):
        seconds("soon", what="poll_interval")
