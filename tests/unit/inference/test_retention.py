"""What a cleanup may drop (``inference.retention``): jobs and folders, by age, prefix and running jobs."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from airflow_snowflake_batch.backends.base import JobInfo, StageFile
from airflow_snowflake_batch.exceptions import InputValidationError, InvalidIdentifierError
from airflow_snowflake_batch.identifiers import Identifier, StageLocation
from airflow_snowflake_batch.inference.retention import (
    check_job_name_prefix,
    check_older_than,
    folder_ages,
    job_schema,
    plan_cleanup,
)
from airflow_snowflake_batch.job_status import BatchJobStatus

NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)
OLD, NEW = NOW - timedelta(days=10), NOW - timedelta(hours=1)
CUTOFF = NOW - timedelta(days=7)
OUT = StageLocation.parse("@DB.SC.OUT/preds/")
PREFIX = "AIRFLOW_BATCH_"


def _job(name: str, status: str, created: datetime) -> JobInfo:
    return JobInfo(job_id=f"DB.SC.{name}", name=name, status=BatchJobStatus(status), created_on=created)


def test_old_finished_jobs_with_the_prefix_are_dropped_and_running_ones_kept() -> None:
    plan = plan_cleanup(
        jobs=[
            _job("AIRFLOW_BATCH_OLD", "DONE", OLD),
            _job("AIRFLOW_BATCH_NEW", "FAILED", NEW),
            _job("OTHER_SERVICE", "DONE", OLD),
            _job("AIRFLOW_BATCH_RUN", "RUNNING", OLD),
            _job(
                "AIRFLOW_BATCH_ODD", "UNKNOWN", OLD
            ),  # a state this provider does not know counts as running
        ],
        files=[],
        output_location=OUT,
        cutoff=CUTOFF,
        job_name_prefix=PREFIX,
    )
    assert plan.drop_jobs == ("DB.SC.AIRFLOW_BATCH_OLD",)
    assert plan.kept_running == ("DB.SC.AIRFLOW_BATCH_RUN", "DB.SC.AIRFLOW_BATCH_ODD")


def test_old_folders_go_unless_a_running_job_owns_them_or_they_lack_the_prefix() -> None:
    files = [
        StageFile("AIRFLOW_BATCH_OLD/data.parquet", OLD),
        StageFile("AIRFLOW_BATCH_FRESH/old.parquet", OLD),
        StageFile("AIRFLOW_BATCH_FRESH/new.parquet", NEW),  # the newest file decides
        StageFile("AIRFLOW_BATCH_RUN/data.parquet", OLD),
        StageFile("MINE/data.parquet", OLD),
        StageFile("loose.parquet", OLD),  # directly under the location: no job's
    ]
    plan = plan_cleanup(
        jobs=[_job("AIRFLOW_BATCH_RUN", "RUNNING", OLD)],
        files=files,
        output_location=OUT,
        cutoff=CUTOFF,
        job_name_prefix=PREFIX,
    )
    assert [f.sql for f in plan.remove_folders] == ["@DB.SC.OUT/preds/AIRFLOW_BATCH_OLD/"]


def test_a_temporary_input_copy_is_kept_while_a_job_started_after_it_runs() -> None:
    files = [StageFile("_snowflake_temporary/abc/part.parquet", OLD)]
    kept = plan_cleanup(
        jobs=[_job("X", "RUNNING", OLD + timedelta(minutes=1))],
        files=files,
        output_location=OUT,
        cutoff=CUTOFF,
        job_name_prefix=PREFIX,
    )
    assert kept.remove_folders == ()
    removed = plan_cleanup(jobs=[], files=files, output_location=OUT, cutoff=CUTOFF, job_name_prefix=PREFIX)
    assert [f.sql for f in removed.remove_folders] == ["@DB.SC.OUT/preds/_snowflake_temporary/abc/"]


def test_folder_ages_are_the_newest_file_per_job_folder() -> None:
    ages = folder_ages([StageFile("J/a", OLD), StageFile("J/b/c", NEW), StageFile("top", NEW)])
    assert ages == {"J": NEW}


def test_arguments_are_checked() -> None:
    check_older_than(timedelta(0))
    with pytest.raises(InputValidationError, match="older_than must not be negative"):
        check_older_than(timedelta(seconds=-1))
    check_job_name_prefix("AIRFLOW_BATCH_")
    for bad in ("", "A-B", "A.B", 'A"'):
        with pytest.raises(InputValidationError, match="job_name_prefix must be the start of a job name"):
            check_job_name_prefix(bad)


def test_job_schema_is_schema_or_database_schema_with_the_connection_defaults() -> None:
    db, sc = Identifier("ML"), Identifier("PUBLIC")
    assert job_schema(None, db, sc) == (db, sc)
    assert job_schema("jobs", db, sc) == (db, Identifier("JOBS"))
    assert job_schema("other.jobs", db, sc) == (Identifier("OTHER"), Identifier("JOBS"))
    with pytest.raises(InputValidationError, match="SCHEMA or DATABASE.SCHEMA"):
        job_schema("a.b.c", db, sc)
    with pytest.raises(InputValidationError, match="connection sets no default database and schema"):
        job_schema(None, None, None)
    with pytest.raises(InputValidationError, match="connection sets no default"):
        job_schema("jobs", None, sc)
    with pytest.raises(InvalidIdentifierError, match="job_schema"):
        job_schema("a;b", db, sc)
