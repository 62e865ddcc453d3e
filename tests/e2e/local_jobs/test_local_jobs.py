"""Batch inference jobs on a local workspace: real detached processes, driven through the hook."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from local_support import CONN_ID, FEATURES, job_processes, submit, wait_terminal, wait_until

from airflow_snowflake_batch.backends.local.job_runner import DELAY_ENV
from airflow_snowflake_batch.exceptions import InputValidationError, StageValidationError
from airflow_snowflake_batch.hooks.batch_inference import JobStart, SnowflakeBatchInferenceHook
from airflow_snowflake_batch.job_status import BatchJobStatus
from airflow_snowflake_batch.local import LocalWorkspace


def read_output(workspace: LocalWorkspace, start: JobStart) -> pd.DataFrame:
    folder = workspace.path_of(start.output_location.sql)
    return pd.concat([pd.read_parquet(p) for p in sorted(folder.glob("*.parquet"))]).sort_values("ID")


def test_sklearn_job_scores_like_model_predict(
    hook: SnowflakeBatchInferenceHook, workspace: LocalWorkspace, sk_model: Any, rows: pd.DataFrame
) -> None:
    start = submit(hook, "JOB_SK", max_batch_rows=25)
    assert start.job_id == "ML.PUBLIC.JOB_SK" and not start.reattached
    state = wait_terminal(hook, start.job_id)
    assert state.status is BatchJobStatus.DONE, hook.get_job_logs(start.job_id)

    files = hook.list_files(start.output_location)
    # One file per work unit: the 120 rows are exported as one row group (units are 131,072 rows).
    assert files == ["_SUCCESS", "data_00000.parquet"]
    assert hook.has_success_marker(start.output_location)
    output = read_output(workspace, start)
    assert list(output.columns) == [*rows.columns, "output_feature_0"]
    np.testing.assert_array_equal(output["output_feature_0"].to_numpy(), sk_model.predict(rows[FEATURES]))
    # Read in model calls of max_batch_rows, written as one row group.
    assert "Scored work unit 0" in hook.get_job_logs(start.job_id)
    assert (
        pq.ParquetFile(workspace.path_of(start.output_location.sql) / files[1]).metadata.num_row_groups == 1
    )
    # The copy of the table input (under _snowflake_temporary/) is gone once the job ended.
    assert not any("_snowflake_temporary" in f for f in workspace.list_files("@OUT"))


def test_xgboost_job_then_loads_never_duplicate_rows(
    hook: SnowflakeBatchInferenceHook, workspace: LocalWorkspace, xgb_model: Any, rows: pd.DataFrame
) -> None:
    workspace.log_model(
        xgb_model, model_name="XGB", version_name="V1", sample_input_data=rows[FEATURES].head(100)
    )
    start = submit(hook, "JOB_XGB", model_name="XGB", function_name="PREDICT_PROBA", max_batch_rows=40)
    assert wait_terminal(hook, start.job_id).status is BatchJobStatus.DONE, hook.get_job_logs(start.job_id)

    _, loaded = hook.load_results(output_location=start.output_location.sql, target_table="XGB_SCORES")
    _, again = hook.load_results(output_location=start.output_location.sql, target_table="XGB_SCORES")
    table = workspace.sql("SELECT * FROM ML.PUBLIC.XGB_SCORES ORDER BY ID")
    assert (loaded, again, len(table)) == (len(rows), 0, len(rows))  # load history skips loaded files
    # As INFER_SCHEMA(IGNORE_CASE => TRUE) creates it: upper-cased column names.
    assert list(table.columns) == [*rows.columns, "OUTPUT_FEATURE_0", "OUTPUT_FEATURE_1"]
    np.testing.assert_allclose(
        table[["OUTPUT_FEATURE_0", "OUTPUT_FEATURE_1"]].to_numpy(),
        xgb_model.predict_proba(rows[FEATURES]),
        rtol=1e-6,
    )

    # With a partition, loading replaces that partition's rows: a rerun never duplicates them.
    location = start.output_location.sql
    for _ in range(2):
        hook.load_results(output_location=location, target_table="P", output_partition={"DS": "2024-01-01"})
    hook.load_results(output_location=location, target_table="P", output_partition={"DS": "2024-01-02"})
    counts = workspace.sql("SELECT DS, count(*) AS N FROM P GROUP BY DS ORDER BY DS")
    assert counts.to_dict("list") == {"DS": ["2024-01-01", "2024-01-02"], "N": [len(rows), len(rows)]}
    _, loaded = hook.load_results(output_location=location, target_table="P", mode="overwrite")
    assert loaded == len(workspace.read_table("P")) == len(rows)


def test_large_input_is_cut_into_row_groups_shared_by_forked_workers(
    hook: SnowflakeBatchInferenceHook,
    workspace: LocalWorkspace,
    sk_model: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The export's row groups (the work units) are exact; the forked workers score them all, once."""
    from airflow_snowflake_batch.backends.local import database

    monkeypatch.setattr(database, "EXPORT_ROW_GROUP_ROWS", 2048)
    workspace.sql(
        "CREATE TABLE ML.PUBLIC.WIDE AS SELECT range AS ID, "
        + ", ".join(f"random() AS {f}" for f in FEATURES)
        + " FROM range(5000)"
    )
    start = submit(hook, "JOB_WIDE", input_table="WIDE", max_batch_rows=500, num_workers=2)
    assert wait_terminal(hook, start.job_id).status is BatchJobStatus.DONE, hook.get_job_logs(start.job_id)

    files = hook.list_files(start.output_location)
    assert files == ["_SUCCESS", "data_00000.parquet", "data_00001.parquet", "data_00002.parquet"]
    sizes = [
        pq.ParquetFile(workspace.path_of(start.output_location.sql) / f).metadata.num_rows for f in files[1:]
    ]
    assert sizes == [2048, 2048, 904]
    output = read_output(workspace, start).sort_values("ID")
    assert output["ID"].tolist() == list(range(5000))
    np.testing.assert_array_equal(output["output_feature_0"].to_numpy(), sk_model.predict(output[FEATURES]))
    logs = hook.get_job_logs(start.job_id)
    assert "3 work unit(s), 2 worker process(es)" in logs
    assert "worker 1 peak_rss_kib=" in logs  # the forked worker really ran (it logs its own peak)


def test_same_input_gives_same_files(hook: SnowflakeBatchInferenceHook, workspace: LocalWorkspace) -> None:
    first = submit(hook, "JOB_A", max_batch_rows=50)
    second = submit(hook, "JOB_B", max_batch_rows=50, replicas=2)
    for start in (first, second):
        assert wait_terminal(hook, start.job_id).status is BatchJobStatus.DONE
    files = hook.list_files(first.output_location)
    assert files == hook.list_files(second.output_location)
    for name in (f for f in files if f.endswith(".parquet")):
        a = pq.read_table(workspace.path_of(first.output_location.sql) / name)
        b = pq.read_table(workspace.path_of(second.output_location.sql) / name)
        assert a.equals(b), name


def test_save_modes(hook: SnowflakeBatchInferenceHook, workspace: LocalWorkspace, rows: pd.DataFrame) -> None:
    sibling = workspace.path_of("@OUT/preds/OTHER_JOB") / "keep.parquet"
    sibling.parent.mkdir(parents=True)
    sibling.write_bytes(b"not touched")
    stale = workspace.path_of("@OUT/preds/JOB_S") / "stale.parquet"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old results")

    with pytest.raises(StageValidationError, match="already holds 1 file.*save_mode is 'error'"):
        submit(hook, "JOB_S")
    assert hook.find_job("JOB_S") is None  # nothing was submitted

    start = submit(hook, "JOB_S", save_mode="overwrite", max_batch_rows=60)
    assert wait_terminal(hook, start.job_id).status is BatchJobStatus.DONE
    assert hook.list_files(start.output_location) == ["_SUCCESS", "data_00000.parquet"]
    assert sibling.read_bytes() == b"not touched"


def test_stage_checks(
    hook: SnowflakeBatchInferenceHook, workspace: LocalWorkspace, rows: pd.DataFrame
) -> None:
    workspace.create_stage("LAKE", external=True)
    with pytest.raises(StageValidationError, match="ML.PUBLIC.LAKE is external"):
        submit(hook, "JOB_X", output_stage_location="@LAKE/preds")
    with pytest.raises(StageValidationError, match="does not exist"):
        submit(hook, "JOB_X", output_stage_location="@NOPE/preds")
    inputs = workspace.path_of("@OUT/preds/inputs")
    inputs.mkdir(parents=True)
    rows.to_parquet(inputs / "in.parquet")
    with pytest.raises(StageValidationError, match="lies inside the output location"):
        submit(hook, "JOB_X", input_stage_location="@OUT/preds/inputs/")


def test_bad_input_columns_are_refused_before_submit(hook: SnowflakeBatchInferenceHook) -> None:
    with pytest.raises(InputValidationError, match="missing column 'SEPAL_WIDTH'"):
        submit(hook, "JOB_BAD", input_query="SELECT ID, SEPAL_LENGTH, PETAL_LENGTH FROM ML.PUBLIC.INPUT")
    assert hook.find_job("JOB_BAD") is None


def test_stage_input_is_read_in_place(
    hook: SnowflakeBatchInferenceHook, workspace: LocalWorkspace, sk_model: Any, rows: pd.DataFrame
) -> None:
    workspace.create_stage("RAW")
    folder = workspace.path_of("@RAW/batch_01")
    folder.mkdir(parents=True)
    rows.iloc[:70].to_parquet(folder / "a.parquet", row_group_size=30)
    rows.iloc[70:].to_parquet(folder / "b.parquet")
    start = submit(hook, "JOB_FILES", input_stage_location="@RAW/batch_01/", max_batch_rows=16)
    assert wait_terminal(hook, start.job_id).status is BatchJobStatus.DONE, hook.get_job_logs(start.job_id)
    # Work units are the row groups: 3 in a.parquet, 1 in b.parquet.
    assert len([f for f in hook.list_files(start.output_location) if f.endswith(".parquet")]) == 4
    output = read_output(workspace, start)
    np.testing.assert_array_equal(output["output_feature_0"].to_numpy(), sk_model.predict(rows[FEATURES]))
    assert sorted(os.listdir(folder)) == ["a.parquet", "b.parquet"]  # user input is never removed


def test_model_error_fails_the_job(
    hook: SnowflakeBatchInferenceHook, workspace: LocalWorkspace, rows: pd.DataFrame
) -> None:
    from local_models import Exploding

    sample = rows[rows["SEPAL_LENGTH"] > 0][FEATURES].head(10)
    workspace.log_model(Exploding(), model_name="BOOM", version_name="V1", sample_input_data=sample)
    start = submit(hook, "JOB_BOOM", model_name="BOOM")
    state = wait_terminal(hook, start.job_id)
    assert state.status is BatchJobStatus.FAILED
    assert "negative sepal length" in state.message
    assert "negative sepal length" in hook.get_job_logs(start.job_id)
    assert not hook.has_success_marker(start.output_location)


def test_params_and_column_handling(
    hook: SnowflakeBatchInferenceHook, workspace: LocalWorkspace, tmp_path: Path, rows: pd.DataFrame
) -> None:
    from local_models import FileSizer, Scaler

    workspace.create_stage("IMAGES")
    paths = []
    for size in (3, 5, 8):
        (tmp_path / f"img{size}.png").write_bytes(b"x" * size)
        paths.append(workspace.put(tmp_path / f"img{size}.png", "@IMAGES/cats/"))
    workspace.write_table("PICS", pd.DataFrame({"ID": [0, 1, 2], "IMAGE": paths}))
    sample = pd.DataFrame({"IMAGE": [base64.b64encode(b"abcd").decode()]})
    workspace.log_model(FileSizer(), model_name="SIZER", version_name="V1", sample_input_data=sample)
    workspace.log_model(
        Scaler(), model_name="SCALER", version_name="V1", sample_input_data=rows[FEATURES].head(5)
    )

    sizes = submit(
        hook,
        "JOB_PICS",
        model_name="SIZER",
        input_table="PICS",
        column_handling={"IMAGE": {"input_format": "full_stage_path", "convert_to": "base64"}},
    )
    scaled = submit(hook, "JOB_PARAMS", model_name="SCALER", params={"factor": 3.0})
    for start in (sizes, scaled):
        assert wait_terminal(hook, start.job_id).status is BatchJobStatus.DONE, hook.get_job_logs(
            start.job_id
        )
    pics = read_output(workspace, sizes)
    assert pics["SIZE"].tolist() == [3, 5, 8]
    assert pics["IMAGE"].tolist() == paths  # the row keeps the stage path it named
    np.testing.assert_allclose(read_output(workspace, scaled)["SCALED"], rows["SEPAL_LENGTH"] * 3.0)


def test_cancel_stops_a_running_job(
    hook: SnowflakeBatchInferenceHook, workspace: LocalWorkspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DELAY_ENV, "60")
    start = submit(hook, "JOB_CANCEL")
    wait_until(lambda: hook.get_job_state(start.job_id).status is BatchJobStatus.RUNNING, what="RUNNING")
    processes = job_processes("JOB_CANCEL")
    assert processes
    hook.cancel_job(start.job_id)
    assert hook.get_job_state(start.job_id).status is BatchJobStatus.CANCELLED
    assert all(not p.is_running() or p.status() == "zombie" for p in processes)
    assert not hook.has_success_marker(start.output_location)
    hook.cancel_job(start.job_id)  # cancelling an ended job changes nothing
    assert hook.get_job_state(start.job_id).status is BatchJobStatus.CANCELLED
    hook.drop_job(start.job_id)
    assert hook.find_job(start.job_id) is None


def test_killed_job_process_is_internal_error_and_retry_resubmits(
    hook: SnowflakeBatchInferenceHook,
    workspace: LocalWorkspace,
    monkeypatch: pytest.MonkeyPatch,
    rows: pd.DataFrame,
) -> None:
    monkeypatch.setenv(DELAY_ENV, "60")
    start = submit(hook, "JOB_KILL")
    wait_until(lambda: hook.get_job_state(start.job_id).status is BatchJobStatus.RUNNING, what="RUNNING")
    (leader,) = job_processes("JOB_KILL")
    os.kill(leader.pid, signal.SIGKILL)
    state = wait_until(
        lambda: (s := hook.get_job_state(start.job_id)).status.is_terminal and s,
        timeout=30,
        what="terminal state",
    )
    assert state.status is BatchJobStatus.INTERNAL_ERROR
    assert "exited without reporting a result" in state.message

    # The retry of the task finds the lost job and starts a new one under its try's name.
    monkeypatch.delenv(DELAY_ENV)
    spec = hook.build_batch_job_spec(
        model_name="IRIS",
        version_name=None,
        function_name="PREDICT",
        source=hook.input_source(input_table="INPUT"),
        compute_pool="POOL",
        output_stage_location="@OUT/preds",
        job_name="JOB_KILL",
    )
    retry = hook.start_batch_job(spec, try_number=2)
    assert (retry.job_id, retry.reattached) == ("ML.PUBLIC.JOB_KILL_T2", False)
    assert wait_terminal(hook, retry.job_id).status is BatchJobStatus.DONE


def test_job_outlives_the_submitting_process(
    hook: SnowflakeBatchInferenceHook, workspace: LocalWorkspace, rows: pd.DataFrame, tmp_path: Path
) -> None:
    script = textwrap.dedent(
        f"""
        import sys, time
        from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook
        hook = SnowflakeBatchInferenceHook({CONN_ID!r})
        spec = hook.build_batch_job_spec(
            model_name="IRIS", version_name=None, function_name="PREDICT",
            source=hook.input_source(input_table="INPUT"), compute_pool="POOL",
            output_stage_location="@OUT/preds", job_name="JOB_ORPHAN")
        print("JOB_ID=" + hook.start_batch_job(spec).job_id, flush=True)
        time.sleep(600)
        """
    )
    env = {**os.environ, DELAY_ENV: "3"}
    submitter = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True)
    try:
        # Airflow logs to stdout too; the submitter prints the id once submit_job returned.
        lines = iter(submitter.stdout.readline, "")
        job_id = next((line.strip()[7:] for line in lines if line.startswith("JOB_ID=")), None)
        assert job_id == "ML.PUBLIC.JOB_ORPHAN"
    finally:
        submitter.kill()  # SIGKILL: no cleanup of any kind in the submitter
        submitter.wait()
    assert hook.get_job_state(job_id).status.is_active
    state = wait_terminal(hook, job_id)
    assert state.status is BatchJobStatus.DONE, hook.get_job_logs(job_id)
    _, loaded = hook.load_results(output_location="@OUT/preds/JOB_ORPHAN/", target_table="ORPHAN")
    assert loaded == len(rows)


def test_unknown_job_has_no_state(hook: SnowflakeBatchInferenceHook) -> None:
    assert hook.find_job("NO_SUCH_JOB") is None
    assert hook.backend.get_job_state("ML.PUBLIC.NO_SUCH_JOB") is None
    assert hook.get_job_logs("NO_SUCH_JOB") == ""


def test_batch_status_reads_every_job_record(hook: SnowflakeBatchInferenceHook) -> None:
    """The shared poller's call: several jobs at once, keyed as given, None for an unknown one."""
    start = submit(hook, "JOB_BATCH_STATUS")
    done = wait_terminal(hook, start.job_id)
    states = hook.get_job_states(["JOB_BATCH_STATUS", start.job_id, "NO_SUCH_JOB"])
    assert states == {"JOB_BATCH_STATUS": done, start.job_id: done, "NO_SUCH_JOB": None}
    assert done.job_id == "ML.PUBLIC.JOB_BATCH_STATUS" and done.status is BatchJobStatus.DONE


def test_recycled_pid_is_not_taken_for_the_job(tmp_path: Path) -> None:
    """A RUNNING job whose recorded pid now belongs to another process (same pid, other start time)."""
    import psutil

    from airflow_snowflake_batch.backends.local import jobs
    from airflow_snowflake_batch.backends.local.layout import write_json_atomic

    job_dir = tmp_path / "job"
    write_json_atomic(job_dir / jobs.JOB_FILE, {"job_id": "ML.PUBLIC.J", "scratch_input": None})
    jobs.write_status(job_dir, BatchJobStatus.RUNNING, "Scoring.")
    me = psutil.Process()
    write_json_atomic(job_dir / jobs.PROCESS_FILE, {"pid": me.pid, "create_time": me.create_time()})
    assert jobs.state("ML.PUBLIC.J", job_dir).status is BatchJobStatus.RUNNING  # really this process

    write_json_atomic(job_dir / jobs.PROCESS_FILE, {"pid": me.pid, "create_time": me.create_time() - 1000})
    lost = jobs.state("ML.PUBLIC.J", job_dir)
    assert lost.status is BatchJobStatus.INTERNAL_ERROR
    assert (
        jobs.state("ML.PUBLIC.J", job_dir).status is BatchJobStatus.INTERNAL_ERROR
    )  # recorded, not re-judged


def test_a_prepared_job_process_leaves_when_its_submission_ends_without_a_job(tmp_path: Path) -> None:
    """The job process starts before its input is exported (prepare.json) and waits for job.json; if the
    submitter dies first (killed mid-export), or its folder is removed, it leaves: no status, no job."""
    import psutil

    from airflow_snowflake_batch.backends.local import job_runner, jobs
    from airflow_snowflake_batch.backends.local.layout import write_json_atomic

    job_dir = tmp_path / "jobs" / "ML" / "PUBLIC" / "J"
    me = psutil.Process()
    prepared = {
        "workspace": str(tmp_path),
        "version_dir": str(tmp_path / "models"),
        "target_method": "predict",
    }
    # A submitter that is gone: this pid, but another start time (the pid was recycled).
    write_json_atomic(
        job_dir / jobs.PREPARE_FILE,
        {**prepared, "submitter": {"pid": me.pid, "create_time": me.create_time() - 1000}},
    )
    assert job_runner.main([str(job_dir)]) == 0
    assert not (job_dir / jobs.STATUS_FILE).exists()

    # A live submitter that writes job.json: the model's load error becomes the job's failure.
    write_json_atomic(
        job_dir / jobs.PREPARE_FILE,
        {**prepared, "submitter": {"pid": me.pid, "create_time": me.create_time()}},
    )
    write_json_atomic(
        job_dir / jobs.JOB_FILE, {"job_id": "ML.PUBLIC.J", "workspace": str(tmp_path), **prepared}
    )
    assert job_runner.main([str(job_dir)]) == 1
    assert jobs.read_status(job_dir)["status"] == BatchJobStatus.FAILED.value
