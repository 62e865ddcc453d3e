"""The cleanup operator on a ``snowflake`` connection: the real hook and SnowflakeBackend, SQL parsed by sqlglot.

The account is doubled by the SQL log of ``tests/unit/conftest.py``: it answers ``SHOW JOB SERVICES`` and
``LIST`` with the rows Snowflake returns (``created_on`` a timestamp, ``last_modified`` an RFC 1123 string).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import pytest
from operator_support import make_context
from snowflake_doubles import CONN_ID

from airflow_snowflake_batch.exceptions import SnowflakeBatchInferenceError
from airflow_snowflake_batch.operators.cleanup import SnowflakeBatchInferenceCleanupOperator

NOW = datetime.now(timezone.utc)
OLD, RECENT = NOW - timedelta(days=40), NOW - timedelta(days=2)


def _row(**values: Any) -> Any:
    from snowflake.snowpark import Row

    return Row(**values)


def _job(name: str, status: str, created: datetime) -> Any:
    # SHOW JOB SERVICES returns created_on as a local-time-zone timestamp.
    return _row(
        name=name,
        database_name="DB",
        schema_name="SC",
        status=status,
        created_on=created.astimezone(timezone(timedelta(hours=-8))),
    )


def _file(path: str, modified: datetime) -> Any:
    # LIST names files "<stage in lower case>/<path>" and dates them in RFC 1123 form.
    return _row(
        name=f"out/preds/{path}", size=10, md5="x", last_modified=format_datetime(modified, usegmt=True)
    )


@pytest.fixture
def account(sql_log: Any) -> Any:
    sql_log.answer(
        r"^SHOW JOB SERVICES",
        [
            _job("AIRFLOW_BATCH_OLD_DONE", "DONE", OLD),
            _job("AIRFLOW_BATCH_OLD_FAILED", "FAILED", OLD),
            _job("AIRFLOW_BATCH_NEW_DONE", "DONE", RECENT),
            # Still running after 40 days: neither it nor its folder may be touched.
            _job("AIRFLOW_BATCH_LONG_RUNNING", "RUNNING", OLD - timedelta(days=5)),
            # A status this provider does not know counts as running.
            _job("AIRFLOW_BATCH_ODD", "SOMETHING_NEW", OLD - timedelta(days=1)),
            # Not one of the batch operator's names: another team's job.
            _job("NIGHTLY_ETL", "DONE", OLD),
        ],
    )
    sql_log.answer(
        r"^LIST",
        [
            _file("AIRFLOW_BATCH_OLD_DONE/_SUCCESS", OLD),
            _file("AIRFLOW_BATCH_OLD_DONE/data_0.parquet", OLD),
            # A folder is as old as its newest file.
            _file("AIRFLOW_BATCH_MIXED/data_0.parquet", OLD),
            _file("AIRFLOW_BATCH_MIXED/data_1.parquet", RECENT),
            _file("AIRFLOW_BATCH_LONG_RUNNING/data_0.parquet", OLD),
            _file("AIRFLOW_BATCH_GONE_JOB/data_0.parquet", OLD),
            _file("NIGHTLY_ETL/data.parquet", OLD),
            # Written before a running job was created: it may be that job's input.
            _file("_snowflake_temporary/aaaa/data_0.parquet", OLD - timedelta(days=6)),
            # Written after the running job was created: no running job can be reading it.
            _file("_snowflake_temporary/bbbb/data_0.parquet", OLD),
            _file("_snowflake_temporary/cccc/data_0.parquet", RECENT),
            _file("notes.txt", OLD),
        ],
    )
    return sql_log


def _cleanup(**kwargs: Any) -> SnowflakeBatchInferenceCleanupOperator:
    arguments = {"output_stage_location": "@OUT/preds", "older_than_days": 30, **kwargs}
    return SnowflakeBatchInferenceCleanupOperator(task_id="cleanup", snowflake_conn_id=CONN_ID, **arguments)


EXPECTED = {
    "dropped_jobs": ["DB.SC.AIRFLOW_BATCH_OLD_DONE", "DB.SC.AIRFLOW_BATCH_OLD_FAILED"],
    "removed_folders": [
        "@DB.SC.OUT/preds/AIRFLOW_BATCH_GONE_JOB/",
        "@DB.SC.OUT/preds/AIRFLOW_BATCH_OLD_DONE/",
        "@DB.SC.OUT/preds/_snowflake_temporary/bbbb/",
    ],
    "kept_running_jobs": ["DB.SC.AIRFLOW_BATCH_LONG_RUNNING", "DB.SC.AIRFLOW_BATCH_ODD"],
}


def test_dry_run_lists_what_goes_and_changes_nothing(hook: Any, account: Any) -> None:
    result = _cleanup(dry_run=True).execute(make_context())
    assert result == {"dry_run": True, **EXPECTED}
    # Only reads: the job listing of the connection's schema and the LIST of the output location.
    assert account.texts == ["SHOW JOB SERVICES IN SCHEMA DB.SC", "LIST @DB.SC.OUT/preds/"]


def test_real_run_drops_finished_jobs_and_removes_old_folders(hook: Any, account: Any) -> None:
    result = _cleanup().execute(make_context())
    assert result == {"dry_run": False, **EXPECTED}
    # Reads first, then one DROP SERVICE IF EXISTS per finished job, then one REMOVE per folder.
    assert account.texts == [
        "SHOW JOB SERVICES IN SCHEMA DB.SC",
        "LIST @DB.SC.OUT/preds/",
        "DROP SERVICE IF EXISTS DB.SC.AIRFLOW_BATCH_OLD_DONE",
        "DROP SERVICE IF EXISTS DB.SC.AIRFLOW_BATCH_OLD_FAILED",
        *(f"REMOVE {folder}" for folder in EXPECTED["removed_folders"]),
    ]


def test_job_schema_and_prefix_choose_the_candidates(hook: Any, account: Any) -> None:
    result = _cleanup(job_schema="OTHER_DB.JOBS", job_name_prefix="NIGHTLY_", dry_run=True).execute(
        make_context()
    )
    assert account.texts[0] == "SHOW JOB SERVICES IN SCHEMA OTHER_DB.JOBS"
    assert result["dropped_jobs"] == ["OTHER_DB.JOBS.NIGHTLY_ETL"]
    # Input copies carry no job name: the prefix does not apply to them.
    assert result["removed_folders"] == [
        "@DB.SC.OUT/preds/NIGHTLY_ETL/",
        "@DB.SC.OUT/preds/_snowflake_temporary/bbbb/",
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"older_than_days": 0}, "older_than_days must be at least 1"),
        ({"older_than_days": "soon"}, "older_than_days must be a whole number"),
        ({"job_name_prefix": "X%' OR 1=1"}, "job_name_prefix must be the start of a job name"),
        ({"job_schema": "A.B.C"}, "job_schema must be SCHEMA or DATABASE.SCHEMA"),
        ({"output_stage_location": "OUT/preds"}, "output_stage_location"),
        # Issue 19 item 8: these raised OverflowError / TypeError from Python, not the provider's error.
        ({"older_than_days": "inf"}, "older_than_days must be a whole number"),
        ({"older_than_days": float("inf")}, "older_than_days must be a whole number"),
        ({"older_than_days": float("nan")}, "older_than_days must be a whole number"),
        ({"older_than_days": 10**9}, "older_than_days must be at most 36,500"),
        ({"job_name_prefix": None}, "job_name_prefix must be the non-empty start of a job name"),
        ({"job_name_prefix": ""}, "job_name_prefix must be the non-empty start of a job name"),
        ({"dry_run": "False"}, "dry_run must be True or False"),
    ],
    ids=[
        "zero-days",
        "not-a-number",
        "prefix-injection",
        "three-part-schema",
        "not-a-stage",
        "inf-text-days",
        "inf-days",
        "nan-days",
        "huge-days",
        "none-prefix",
        "empty-prefix",
        "text-dry-run",
    ],
)
def test_bad_arguments_fail_before_any_statement(
    hook: Any, account: Any, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(SnowflakeBatchInferenceError, match=message):
        _cleanup(**kwargs).execute(make_context())
    assert account.texts == []
