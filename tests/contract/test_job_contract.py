"""Batch job lifecycle on both backends: submit, re-attach, cancel, fail, ``_SUCCESS``, then load."""

from __future__ import annotations

from contract_sides import MODEL
from contract_support import OUTPUT, features, load, rows, scored

from airflow_snowflake_batch.job_status import BatchJobStatus

BASE = "@OUT/preds/"


def _start(side, hook, *, try_number: int = 1, source: dict[str, str] | None = None, model: str = MODEL):
    spec = hook.build_batch_job_spec(
        model_name=model,
        version_name=None,
        function_name=None,
        source=hook.input_source(**(source or {"input_table": "INPUT"})),
        compute_pool="POOL",
        output_stage_location=BASE,
        job_name="JOB_1",
    )
    return hook.start_batch_job(spec, try_number=try_number)


def test_a_job_scores_into_its_folder_with_success_and_loads(side):
    side.write_table("INPUT", features(range(6)))
    with side.hook() as hook:
        start = _start(side, hook)
        assert not start.reattached and start.job_name == "JOB_1"
        assert side.wait(hook, start.job_id).status is BatchJobStatus.DONE
        files = hook.list_files(start.output_location)
    assert "_SUCCESS" in files and any(f.endswith(".parquet") for f in files)
    assert load(side, folder=start.output_location.sql, output_partition={"DS": "2024-01-01"}) == 6
    assert rows(side.read_table(OUTPUT), ["ID", "SCORE"]) == rows(scored(features(range(6))), ["ID", "SCORE"])


def test_a_retry_reattaches_to_the_running_job_and_cancel_stops_it(side):
    side.write_table("INPUT", features(range(3)))
    with side.held_jobs(), side.hook() as hook:
        first = _start(side, hook)
        again = _start(side, hook, try_number=2)
        assert again.reattached and again.job_id == first.job_id
        hook.cancel_job(first.job_id)
        assert side.wait(hook, first.job_id).status is BatchJobStatus.CANCELLED
        assert "_SUCCESS" not in hook.list_files(first.output_location)


def test_a_finished_job_is_not_submitted_again(side):
    side.write_table("INPUT", features(range(3)))
    with side.hook() as hook:
        first = _start(side, hook)
        side.wait(hook, first.job_id)
        again = _start(side, hook, try_number=2)
    assert again.reattached and again.job_id == first.job_id


def test_a_failed_job_is_replaced_by_a_new_one_on_retry(side):
    # A negative sepal length makes the model raise inside the job, not before submit.
    side.write_table("INPUT", features(range(3)).assign(SEPAL_LENGTH=[-1.0, 1.0, 2.0]))
    with side.hook() as hook:
        first = _start(side, hook)
        assert side.wait(hook, first.job_id).status is BatchJobStatus.FAILED
        side.write_table("INPUT", features(range(3)))
        retry = _start(side, hook, try_number=2)
        # The job of try n is <job_name>_T<n>, in a folder of that name.
        assert not retry.reattached and retry.job_name == "JOB_1_T2"
        assert retry.output_location.sql.endswith("/preds/JOB_1_T2/")
        assert side.wait(hook, retry.job_id).status is BatchJobStatus.DONE


def test_an_empty_input_ends_done_with_success_and_no_parquet_and_loads_zero_rows(side):
    side.write_table("INPUT", features([]))
    with side.hook() as hook:
        start = _start(side, hook)
        assert side.wait(hook, start.job_id).status is BatchJobStatus.DONE
        files = hook.list_files(start.output_location)
    assert files == ["_SUCCESS"]
    assert load(side, folder=start.output_location.sql, output_partition={"DS": "2024-01-01"}) == 0


# Issue 19, item 5: the comment swallowed the closing parenthesis of COPY (local export) and COUNT_IF (both).
COMMENTED_QUERY = "SELECT * FROM INPUT -- daily extract"


def test_an_input_query_ending_in_a_line_comment_is_scored_by_a_job(side):
    side.write_table("INPUT", features(range(4)))
    with side.hook() as hook:
        start = _start(side, hook, source={"input_query": COMMENTED_QUERY})
        assert side.wait(hook, start.job_id).status is BatchJobStatus.DONE
    assert load(side, folder=start.output_location.sql) == 4


def test_an_input_query_ending_in_a_line_comment_is_scored_in_the_warehouse(side):
    from contract_support import warehouse

    side.write_table("INPUT", features(range(3)))
    assert warehouse(side, source={"input_query": COMMENTED_QUERY}) == 3
    assert rows(side.read_table(OUTPUT), ["ID", "SCORE"]) == rows(scored(features(range(3))), ["ID", "SCORE"])


def test_a_done_job_whose_folder_lacks_success_is_finished_its_status_standing_in(side, caplog):
    """snowflake-ml documents no ``_SUCCESS``: a job DONE without it loads when its job is named, and a
    retry takes it as finished; a folder given alone still needs the marker, a cancelled job's is refused."""
    import logging

    import pytest

    from airflow_snowflake_batch.exceptions import ResultsNotReadyError

    side.write_table("INPUT", features(range(4)))
    with side.hook() as hook:
        start = _start(side, hook)
        assert side.wait(hook, start.job_id).status is BatchJobStatus.DONE
    (side.stage_dir(start.output_location.sql) / "_SUCCESS").unlink()
    folder = start.output_location.sql

    with pytest.raises(ResultsNotReadyError, match="no _SUCCESS file"):
        load(side, folder=folder)  # only a location: the marker is required, as before
    with caplog.at_level(logging.WARNING):
        assert load(side, folder=folder, job_id=start.job_id) == 4
        with side.hook() as hook:
            again = _start(side, hook, try_number=2)
    assert (again.reattached, again.job_id) == (True, start.job_id)
    assert caplog.text.count("the job's status stands in for the marker") == 2
    assert rows(side.read_table(OUTPUT), ["ID", "SCORE"]) == rows(scored(features(range(4))), ["ID", "SCORE"])


def test_a_cancelled_jobs_folder_is_refused_even_when_its_job_is_named(side):
    import pytest

    from airflow_snowflake_batch.exceptions import ResultsNotReadyError

    side.write_table("INPUT", features(range(3)))
    with side.held_jobs(), side.hook() as hook:
        start = _start(side, hook)
        hook.cancel_job(start.job_id)
        assert side.wait(hook, start.job_id).status is BatchJobStatus.CANCELLED
    with pytest.raises(ResultsNotReadyError, match=r"no _SUCCESS file and job .* is CANCELLED"):
        load(side, folder=start.output_location.sql, job_id=start.job_id)
    assert side.read_table(OUTPUT) is None


def test_a_job_over_input_files_hands_the_model_the_bytes_of_each_matching_file(side):
    """input_files: the hook lists the folder, the job reads each matching file (column_handling)."""
    import hashlib

    from contract_models import FileDigest, file_digest_signature

    files = {"a.png": b"\x89PNG\x00a\x00", "sub/b.png": b"\x00\x01b", "notes.txt": b"not an image"}
    for name, data in files.items():
        path = side.stage_dir("@OUT/media/") / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    side.log_model("FILE_DIGEST", FileDigest(), file_digest_signature())
    with side.hook() as hook:
        source = {"input_files": "@OUT/media/", "file_pattern": r".*\.png", "file_column": "FILE"}
        start = _start(side, hook, source=source, model="FILE_DIGEST")
        state = side.wait(hook, start.job_id)
        assert state.status is BatchJobStatus.DONE, hook.get_job_logs(start.job_id)
    assert load(side, folder=start.output_location.sql) == 2
    digests = sorted(side.read_table(OUTPUT)["SHA"])
    assert digests == sorted(hashlib.sha256(files[n]).hexdigest() for n in ("a.png", "sub/b.png"))
