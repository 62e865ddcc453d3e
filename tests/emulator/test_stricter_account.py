"""Issue 18 on the emulated account: the provider against an emulator stricter than Snowflake.

Each test runs the real hook (or operator) over the emulated account, in its own schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("fakesnow")

from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook  # noqa: E402


def _sent_during(account: Any, call: Any) -> list[str]:
    before = len(account.statements)
    call()
    return [q.text for q in account.statements[before:]]


# -- item 6: stage names that need quotes -----------------------------------------------------------


def test_list_and_remove_single_quote_a_stage_name_that_needs_quotes(
    emulated_account: Any, emulated_schema: tuple[str, str], emulated_conn_id: str
) -> None:
    from airflow_snowflake_batch.identifiers import StageLocation

    database, schema = emulated_schema
    emulated_account.create_stage(f'{database}.{schema}."my stage"')
    folder = emulated_account.stage_dir(f'@{database}.{schema}."my stage"/p/')
    folder.mkdir(parents=True)
    (folder / "a.parquet").write_bytes(b"x")

    with SnowflakeBatchInferenceHook(emulated_conn_id) as hook:
        assert hook.list_files('@"my stage"/p/') == ["a.parquet"]
        location = StageLocation.parse(f'@{database}.{schema}."my stage"/p/')
        sent = _sent_during(emulated_account, lambda: hook.backend.remove_files(location))
    assert sent == [f"REMOVE '@{database}.{schema}.\"my stage\"/p/'"]
    assert not (folder / "a.parquet").exists()


def test_a_load_from_a_stage_name_that_needs_quotes_is_refused_before_anything_runs(
    emulated_account: Any, emulated_schema: tuple[str, str], emulated_conn_id: str
) -> None:
    from airflow_snowflake_batch.exceptions import InvalidIdentifierError

    with SnowflakeBatchInferenceHook(emulated_conn_id) as hook:
        hook.list_files("@OUT/")  # the session is made on first use
        before = len(emulated_account.statements)
        with pytest.raises(InvalidIdentifierError, match="COPY INTO a table is not documented for a quoted"):
            hook.load_results(output_location='@"my stage"/jobs/J/', target_table="T")
        assert emulated_account.statements[before:] == []


@pytest.mark.parametrize("verb", ["LIST", "REMOVE"])
def test_the_emulator_refuses_an_unquoted_location_with_a_quoted_stage_name(
    emulated_account: Any, emulated_schema: tuple[str, str], verb: str
) -> None:
    import snowflake.connector

    database, schema = emulated_schema
    emulated_account.create_stage(f'{database}.{schema}."my stage"')
    with snowflake.connector.connect(**emulated_account.connect_kwargs) as con, con.cursor() as cursor:
        with pytest.raises(
            snowflake.connector.errors.ProgrammingError, match="needs single quotes|invalid stage"
        ):
            cursor.execute(f'{verb} @{database}.{schema}."my stage"/p/')
        cursor.execute(f"{verb} '@{database}.{schema}.\"my stage\"/p/'")  # the documented form


def test_a_temporary_table_exists_only_in_its_session_and_until_it_ends(
    emulated_account: Any, emulated_schema: tuple[str, str]
) -> None:
    import snowflake.connector

    database, schema = emulated_schema
    table = f"{database}.{schema}.SCRATCH"
    with snowflake.connector.connect(**emulated_account.connect_kwargs) as other:
        with snowflake.connector.connect(**emulated_account.connect_kwargs) as owner:
            owner.cursor().execute(f"CREATE TEMPORARY TABLE {table} (A INT)")
            owner.cursor().execute(f"INSERT INTO {table} VALUES (1)")
            assert owner.cursor().execute(f"SELECT A FROM {table}").fetchall() == [(1,)]
            with pytest.raises(snowflake.connector.errors.ProgrammingError, match="does not exist"):
                other.cursor().execute(f'SELECT A FROM "{database}"."{schema}"."SCRATCH"')
        with pytest.raises(snowflake.connector.errors.ProgrammingError, match="does not exist"):
            other.cursor().execute(f"SELECT A FROM {table}")  # the owner's session ended: it is gone


# -- jobs on the emulator's clock and switches --------------------------------------------------------


@pytest.fixture
def scoring(
    emulated_account: Any, emulated_schema: tuple[str, str], emulated_conn_id: str, linear_model: Any
) -> Iterator[Any]:
    """The schema holds model M (y = 3*X1 + X2) and table T of two rows."""
    import pandas as pd

    model, frame = linear_model
    database, schema = emulated_schema
    emulated_account.log_model(model, model_name=f"{database}.{schema}.M", sample_input_data=frame)
    emulated_account.write_table(f"{database}.{schema}.T", pd.DataFrame({"X1": [1.0, 4.0], "X2": [2.0, 0.5]}))
    yield emulated_account
    emulated_account.jobs.reset_clock()
    emulated_account.jobs.without_success.clear()


def _spec(hook: SnowflakeBatchInferenceHook, job_name: str, **options: Any) -> Any:
    return hook.build_batch_job_spec(
        model_name="M",
        version_name=None,
        function_name=None,
        source=options.pop("source", None) or hook.input_source(input_table="T"),
        compute_pool="POOL",
        output_stage_location="@OUT/preds/",
        job_name=job_name,
        **options,
    )


def _run(hook: SnowflakeBatchInferenceHook, job_name: str, **options: Any) -> Any:
    import time

    from airflow_snowflake_batch.job_status import BatchJobStatus

    start = hook.start_batch_job(_spec(hook, job_name, **options))
    state = hook.wait_for_job(start.job_id, poll_interval=0.5, deadline=time.time() + 120)
    assert state.status is BatchJobStatus.DONE, hook.get_job_logs(start.job_id)
    return start


def test_a_run_after_its_jobs_metadata_expired_says_so_instead_of_folder_not_empty(
    scoring: Any, emulated_conn_id: str
) -> None:
    """Item 7: a cleared run of an older day finds no job (Snowflake keeps a finished job 14 days) and a
    full folder; save_mode='error' explains that instead of a bare "folder not empty"."""
    from airflow_snowflake_batch.exceptions import StageValidationError
    from emulator.jobs import RETENTION_DAYS

    with SnowflakeBatchInferenceHook(emulated_conn_id) as hook:
        start = _run(hook, "DAILY")
    scoring.jobs.advance_clock(days=RETENTION_DAYS + 1)

    with SnowflakeBatchInferenceHook(emulated_conn_id) as hook:
        assert hook.find_job(start.job_id) is None  # DESCRIBE SERVICE: does not exist
        with pytest.raises(StageValidationError) as raised:
            hook.start_batch_job(_spec(hook, "DAILY"))
        assert "_SUCCESS" in hook.list_files(start.output_location)  # nothing was touched
        rerun = _run(hook, "DAILY", save_mode="overwrite")
    message = str(raised.value)
    assert "no job named DAILY exists" in message
    assert "metadata Snowflake no longer keeps (about 14 days after a job ends)" in message
    assert "It holds _SUCCESS: the finished results of that job" in message
    assert "nothing was submitted" in message and "save_mode='overwrite'" in message
    assert rerun.job_id == start.job_id and not rerun.reattached


def test_a_job_that_writes_no_success_marker_is_finished_for_a_retry_and_a_named_load(
    scoring: Any, emulated_conn_id: str
) -> None:
    """Item 4 with the emulator's per-job switch: snowflake-ml documents no _SUCCESS."""
    from airflow_snowflake_batch.exceptions import ResultsNotReadyError

    scoring.jobs.without_success.add("NOMARK")
    with SnowflakeBatchInferenceHook(emulated_conn_id) as hook:
        start = _run(hook, "NOMARK")
        assert "_SUCCESS" not in hook.list_files(start.output_location)
        again = hook.start_batch_job(_spec(hook, "NOMARK"), try_number=2)
        with pytest.raises(ResultsNotReadyError, match="no _SUCCESS file"):
            hook.load_results(output_location=start.output_location.sql, target_table="P")
        _, rows = hook.load_results(
            output_location=start.output_location.sql, target_table="P", job_id=start.job_id
        )
    assert (again.reattached, again.job_id) == (True, start.job_id)
    assert rows == 2


def test_a_suspended_job_reads_suspended_and_resumes(
    scoring: Any, emulated_conn_id: str, monkeypatch: Any
) -> None:
    import snowflake.connector

    from airflow_snowflake_batch.backends.local.job_runner import DELAY_ENV
    from airflow_snowflake_batch.job_status import BatchJobStatus

    monkeypatch.setenv(DELAY_ENV, "60")
    with SnowflakeBatchInferenceHook(emulated_conn_id) as hook:
        start = hook.start_batch_job(_spec(hook, "HELD"))
        with snowflake.connector.connect(**scoring.connect_kwargs) as con, con.cursor() as cursor:
            cursor.execute(f"ALTER SERVICE {start.job_id} SUSPEND")
            assert hook.get_job_state(start.job_id).status is BatchJobStatus.SUSPENDED
            instances = cursor.execute(f"SHOW SERVICE INSTANCES IN SERVICE {start.job_id}").fetchall()
            cursor.execute(f"ALTER SERVICE {start.job_id} RESUME")
        assert hook.get_job_state(start.job_id).status is not BatchJobStatus.SUSPENDED
        hook.cancel_job(start.job_id)
    assert len(instances) == 1 and "SUSPENDED" in instances[0]


# -- paths of the Snowflake backend that ran nowhere else -------------------------------------------


def _age(folder: Any, days: float) -> None:
    import os
    import time

    then = time.time() - days * 86400
    for path in [folder, *folder.rglob("*")]:
        os.utime(path, (then, then))


def test_the_cleanup_operator_drops_old_finished_jobs_and_their_folders(
    scoring: Any, emulated_schema: tuple[str, str], emulated_conn_id: str
) -> None:
    """SHOW JOB SERVICES' created_on (a timestamp) and LIST's last_modified (RFC 1123 text) are read as
    Snowflake returns them; an old finished job and its old folder go, a recent job stays."""
    from airflow_snowflake_batch.operators.cleanup import SnowflakeBatchInferenceCleanupOperator

    database, schema = emulated_schema
    # The old job ran 5 days ago on the account's clock (within the 14 days a finished job is kept).
    scoring.jobs.advance_clock(days=-5)
    with SnowflakeBatchInferenceHook(emulated_conn_id) as hook:
        old = _run(hook, "AIRFLOW_BATCH_OLD")
    scoring.jobs.advance_clock(days=5)
    _age(scoring.stage_dir(old.output_location.sql), 5)
    with SnowflakeBatchInferenceHook(emulated_conn_id) as hook:
        new = _run(hook, "AIRFLOW_BATCH_NEW")

    result = SnowflakeBatchInferenceCleanupOperator(
        task_id="cleanup",
        snowflake_conn_id=emulated_conn_id,
        output_stage_location="@OUT/preds",
        older_than_days=3,
        dry_run=False,
    ).execute({})

    assert result["dropped_jobs"] == [old.job_id]
    assert result["removed_folders"] == [old.output_location.sql]
    with SnowflakeBatchInferenceHook(emulated_conn_id) as hook:
        assert hook.find_job(old.job_id) is None and hook.list_files(old.output_location) == []
        assert "_SUCCESS" in hook.list_files(new.output_location)
        # The triggerer's batched poll: one SHOW for the listed job, DESCRIBE for the dropped one.
        states = hook.get_job_states([new.job_id, old.job_id])
        hook.cancel_job(old.job_id)  # a dropped job: nothing to cancel, no error
        logs = hook.get_job_logs(old.job_id)
    assert states[new.job_id] is not None and states[new.job_id].status.is_success
    assert states[old.job_id] is None
    assert logs == ""


def test_a_missing_model_version_is_the_providers_error(scoring: Any, emulated_conn_id: str) -> None:
    from airflow_snowflake_batch.exceptions import ModelNotFoundError

    with (
        SnowflakeBatchInferenceHook(emulated_conn_id) as hook,
        pytest.raises(ModelNotFoundError, match="has no version or alias 'V9'"),
    ):
        hook.get_model_version("M", "V9")


def test_input_files_become_one_row_per_file_path_and_input_stage_location_is_scored_in_place(
    scoring: Any, emulated_schema: tuple[str, str], emulated_conn_id: str
) -> None:
    """input_files lists the folder's matching files as full stage paths (the job over them is a contract
    test: tests/contract/test_job_contract.py)."""
    import pandas as pd

    database, schema = emulated_schema
    images = scoring.stage_dir(f"@{database}.{schema}.OUT/img/")
    images.mkdir(parents=True)
    for name in ("a.png", "b.png", "notes.txt"):
        (images / name).write_bytes(b"x")
    inputs = scoring.stage_dir(f"@{database}.{schema}.OUT/in/")
    inputs.mkdir(parents=True)
    pd.DataFrame({"X1": [1.0, 4.0, 7.0], "X2": [2.0, 0.5, 3.0]}).to_parquet(inputs / "part_0.parquet")

    with SnowflakeBatchInferenceHook(emulated_conn_id) as hook:
        source = hook.input_source(input_files="@OUT/img/", file_pattern=r".*\.png", file_column="IMAGE")
        listed = hook.list_input_files(source.files)
        start = _run(hook, "FROM_STAGE", source=hook.input_source(input_stage_location="@OUT/in/"))
        _, rows = hook.load_results(output_location=start.output_location.sql, target_table="FROM_STAGE")
    assert listed.paths == (f"@{database}.{schema}.OUT/img/a.png", f"@{database}.{schema}.OUT/img/b.png")
    assert rows == 3


# -- a role without a privilege: an access error is raised, never taken for a missing object ----------


def _read_run(hook: SnowflakeBatchInferenceHook, schema: str) -> Any:
    from airflow_snowflake_batch.identifiers import ObjectName

    return hook.backend.read_scoring_run(ObjectName.parse(f"{schema}.AIRFLOW_SCORING_RUNS"), "T", "")


def _delete_runs(hook: SnowflakeBatchInferenceHook, schema: str) -> Any:
    from airflow_snowflake_batch.identifiers import ObjectName

    return hook.backend.delete_scoring_runs(ObjectName.parse(f"{schema}.AIRFLOW_SCORING_RUNS"), "T", [""])


@pytest.mark.parametrize(
    ("denied", "call"),
    [
        pytest.param("^SHOW MODELS", lambda hook, schema: hook.get_model_version("M", "V1"), id="model"),
        pytest.param("^LIST ", lambda hook, schema: hook.list_files("@OUT/"), id="list"),
        pytest.param("^DESCRIBE SERVICE", lambda hook, schema: hook.get_job_state("J"), id="job-state"),
        pytest.param("spcs_cancel_job", lambda hook, schema: hook.cancel_job("J"), id="cancel"),
        pytest.param("^SELECT .*AIRFLOW_SCORING_RUNS", _read_run, id="scoring-run"),
        pytest.param("^DELETE FROM .*AIRFLOW_SCORING_RUNS", _delete_runs, id="forget-scoring-run"),
    ],
)
def test_an_access_error_is_raised_not_taken_for_a_missing_object(
    scoring: Any, emulated_schema: tuple[str, str], emulated_conn_id: str, denied: str, call: Any
) -> None:
    """A missing object has a meaning (no job yet, no record, a named error); a denied one must not get it."""
    from airflow_snowflake_batch.exceptions import SnowflakeBatchInferenceError

    database, schema = emulated_schema
    with SnowflakeBatchInferenceHook(emulated_conn_id) as hook:
        hook.list_files("@OUT/")  # the session is made on first use
        with scoring.deny(denied), pytest.raises(Exception, match="Insufficient privileges") as raised:
            call(hook, f"{database}.{schema}")
    assert not isinstance(raised.value, SnowflakeBatchInferenceError)


def test_usage_progress_and_a_failed_jobs_message_are_best_effort_without_the_privilege(
    scoring: Any, emulated_schema: tuple[str, str], emulated_conn_id: str
) -> None:
    import time

    import pandas as pd

    from airflow_snowflake_batch.job_status import BatchJobStatus

    database, schema = emulated_schema
    broken = scoring.stage_dir(f"@{database}.{schema}.OUT/broken/")
    broken.mkdir(parents=True)
    pd.DataFrame({"X1": ["not a number"], "X2": [1.0]}).to_parquet(broken / "part_0.parquet")
    with SnowflakeBatchInferenceHook(emulated_conn_id) as hook:
        start = _run(hook, "USED")
        with scoring.deny("GET_JOB_HISTORY"):
            unread = hook.get_job_usage(start.job_id)
        with scoring.deny("^SHOW COMPUTE POOLS"):
            no_pool = hook.get_job_usage(start.job_id)
        never = hook.get_job_usage("NEVER_SUBMITTED")
        progress = hook.get_job_progress(start.job_id, start.output_location)

        failed = hook.start_batch_job(
            _spec(hook, "BROKEN", source=hook.input_source(input_stage_location="@OUT/broken/"))
        )
        while not hook.get_job_state(failed.job_id).status.is_terminal:
            time.sleep(0.2)
        with scoring.deny("GET_SERVICE_LOGS"):
            state = hook.get_job_state(failed.job_id)

    assert (unread.wall_seconds, unread.compute_pool) == (None, None)
    assert "GET_JOB_HISTORY could not be read" in unread.source
    assert no_pool.wall_seconds is not None and no_pool.wall_seconds >= 0
    assert (no_pool.compute_pool, no_pool.instance_family) == ("POOL", None)
    assert "SHOW COMPUTE POOLS could not be read" in no_pool.source
    assert never.source == "GET_JOB_HISTORY has no row for the job"
    written = [p for p in scoring.stage_dir(start.output_location.sql).iterdir() if p.suffix == ".parquet"]
    assert progress is not None and (progress.done, progress.total) == (len(written), None) and written
    assert (state.status, state.message) == (BatchJobStatus.FAILED, "")


def test_a_write_whose_insert_is_denied_leaves_the_partition_as_it_was(
    scoring: Any, emulated_schema: tuple[str, str], emulated_conn_id: str
) -> None:
    """The partition's DELETE and INSERT are one transaction: the failed INSERT rolls the DELETE back."""
    database, schema = emulated_schema
    with SnowflakeBatchInferenceHook(emulated_conn_id) as hook:
        start = _run(hook, "ROLLBACK")
        folder = start.output_location.sql
        hook.load_results(output_location=folder, target_table="R", output_partition={"DS": "d1"})
        with (
            scoring.deny(rf"^INSERT INTO {database}\.{schema}\.R\b"),
            pytest.raises(Exception, match="Insufficient privileges"),
        ):
            hook.load_results(output_location=folder, target_table="R", output_partition={"DS": "d1"})
        assert scoring.sent("^ROLLBACK")
    kept = scoring.read_table(f"{database}.{schema}.R")
    assert kept is not None and sorted(kept["DS"]) == ["d1", "d1"]
