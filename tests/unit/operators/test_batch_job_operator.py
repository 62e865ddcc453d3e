from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred
from airflow.sdk import DAG
from operator_support import (
    AIRFLOW_V_3_3_PLUS,
    FakeTaskStateStore,
    make_context,
    pushed,
    stored,
)

from airflow_snowflake_batch.backends.base import InputSource, JobUsage, ModelFunction, Param
from airflow_snowflake_batch.exceptions import BatchJobError
from airflow_snowflake_batch.hooks.batch_inference import JobStart, SnowflakeBatchInferenceHook
from airflow_snowflake_batch.identifiers import ObjectName, StageLocation, default_job_name
from airflow_snowflake_batch.inference.fingerprint import Reuse
from airflow_snowflake_batch.job_status import BatchJobStatus, JobState
from airflow_snowflake_batch.links import JOB_XCOM_KEY
from airflow_snowflake_batch.operators.batch_job import SnowflakeBatchInferenceOperator
from airflow_snowflake_batch.triggers.batch_job import SnowflakeBatchInferenceJobTrigger

MOD = "airflow_snowflake_batch.operators.batch_job"
NAME = default_job_name("scoring", "score", "manual__2026-01-01", -1).value
JOB = f"ML.PUBLIC.{NAME}"
BASE = StageLocation.parse("@ML.PUBLIC.OUT/preds/")
FOLDER = BASE.child(NAME)
NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z, the test task's start


def state(status: str, job_id: str = JOB) -> JobState:
    return JobState(job_id, BatchJobStatus(status), "worker 0 exited 1" if status == "FAILED" else "")


def job_start(status: str = "PENDING", *, reattached: bool = False) -> JobStart:
    return JobStart(JOB, NAME, FOLDER, state(status), reattached)


@pytest.fixture
def hook_cls():
    with mock.patch(
        "airflow_snowflake_batch.hooks.batch_inference.SnowflakeBatchInferenceHook", autospec=True
    ) as cls:
        hook = cls.return_value
        hook.__enter__.return_value = hook
        hook.job_url.side_effect = lambda job_id, location: (
            f"https://snowsight.example/#/compute/job/{job_id}"
        )
        hook.input_source.return_value = InputSource(table=ObjectName.parse("ML.PUBLIC.FEATURES"))
        hook.parse_location.side_effect = lambda loc, what: StageLocation.parse(loc).qualify("ML", "PUBLIC")
        hook.start_batch_job.return_value = job_start()
        hook.has_success_marker.return_value = True
        hook.list_files.return_value = ["_SUCCESS", "data_0.parquet"]
        hook.get_job_logs.return_value = "scored 3 rows"
        yield cls


@pytest.fixture
def hook(hook_cls):
    hook = hook_cls.return_value
    # What a local job records of itself (usage.json); the cost is derived from it.
    hook.get_job_usage.return_value = JobUsage(wall_seconds=3.25, cpu_seconds=5.5, source="local job")
    return hook


@pytest.fixture
def clock():
    with mock.patch("airflow_snowflake_batch.utils.job_wait.time") as fake:
        fake.time.return_value = NOW
        yield fake


def make_op(**kwargs) -> SnowflakeBatchInferenceOperator:
    args = {
        "task_id": "score",
        "model_name": "churn",
        "version_name": "v3",
        "input_table": "features",
        "compute_pool": "gpu_pool",
        "output_stage_location": "@out/preds/",
        "snowflake_conn_id": "sf",
        "poll_interval": 15,
        "timeout": 3600,
        **kwargs,
    }
    return SnowflakeBatchInferenceOperator(**args)


# -- submitting --------------------------------------------------------------------------------


def test_builds_the_hook_and_the_job_from_the_arguments(hook_cls, hook, context):
    op = make_op(
        deferrable=False,
        wait_for_completion=False,
        function_name="predict_proba",
        replicas="2",  # as rendered from a template
        num_workers=4,
        max_batch_rows="1024",
        resources={"cpu": 4, "memory": "8Gi"},
        model_params={"temperature": 0.2},
        engine="VLLM",
        engine_args_override=["--max-model-len=4096"],
        save_mode="overwrite",
        database="ml",
        warehouse="ml_wh",
        role="scorer",
    )

    op.execute(context)

    hook_cls.assert_called_once_with(
        snowflake_conn_id="sf",
        database="ml",
        schema=None,
        warehouse="ml_wh",
        role="scorer",
        query_tag={"dag_id": "scoring", "task_id": "score", "run_id": "manual__2026-01-01"},
    )
    hook.input_source.assert_called_once_with(
        input_table="features",
        input_query=None,
        input_stage_location=None,
        input_files=None,
        file_pattern=None,
        file_column=None,
    )
    hook.build_batch_job_spec.assert_called_once_with(
        model_name="churn",
        version_name="v3",
        function_name="predict_proba",
        source=hook.input_source.return_value,
        compute_pool="gpu_pool",
        output_stage_location="@out/preds/",
        job_name=NAME,
        save_mode="overwrite",
        replicas=2,
        num_workers=4,
        max_batch_rows=1024,
        cpu_requests="4",
        memory_requests="8Gi",
        params={"temperature": 0.2},
        column_handling={},
        partition_column=None,
        engine="VLLM",
        engine_args_override=("--max-model-len=4096",),
        image_repo=None,
        force_rebuild=False,
    )
    hook.start_batch_job.assert_called_once_with(
        hook.build_batch_job_spec.return_value, try_number=1, require_rows=False, rescore="if_changed"
    )
    hook.close.assert_called_once_with()


def test_model_params_go_to_the_model_and_params_stay_airflows(hook, context):
    with DAG("scoring", params={"temperature": 0.9}):
        op = make_op(wait_for_completion=False, model_params={"temperature": 0.2})
        plain = make_op(task_id="plain", wait_for_completion=False, model_params={})

    assert op.params["temperature"] == 0.9  # templates see the DAG's value
    op.execute(context)
    assert hook.build_batch_job_spec.call_args.kwargs["params"] == {"temperature": 0.2}
    plain.execute(context)
    assert hook.build_batch_job_spec.call_args.kwargs["params"] == {}


def test_params_naming_a_model_parameter_fail_before_submitting_without_model_params(hook, context):
    """A task still passing the model's parameters through params would score with the defaults."""
    hook.build_batch_job_spec.return_value.function = ModelFunction(
        "PREDICT", "predict", "FUNCTION", (), (), (Param("temperature", "DOUBLE", 1.0),)
    )
    with DAG("scoring", params={"region": "emea"}):
        op = make_op(wait_for_completion=False, params={"TEMPERATURE": 0.2})
        unrelated = make_op(task_id="unrelated", wait_for_completion=False)

    with pytest.raises(
        ValueError, match=r"params \['TEMPERATURE'\] name parameters of model function PREDICT"
    ):
        op.execute(context)
    hook.start_batch_job.assert_not_called()
    unrelated.execute(context)  # a DAG param the model does not declare is no reason to fail
    hook.start_batch_job.assert_called_once()


def test_model_params_render_from_dag_params():
    """The trigger-time value of a DAG Param reaches the model (test_model_params.py runs a real DAG)."""
    with DAG("scoring", params={"temperature": 0.7}, render_template_as_native_obj=True):
        op = make_op(model_params={"temperature": "{{ params.temperature }}", "top_p": 0.9})

    op.render_template_fields({"params": {"temperature": 0.3}})  # as triggered with conf

    assert op.model_params == {"temperature": 0.3, "top_p": 0.9}


def test_explicit_job_name_is_rendered_and_used(hook, context):
    op = make_op(job_name="nightly_{{ ds_nodash }}_rendered", wait_for_completion=False)
    op.render_template_fields({**context, "ds_nodash": "20260101"})

    result = op.execute(context)

    assert hook.build_batch_job_spec.call_args.kwargs["job_name"] == "nightly_20260101_rendered"
    assert result["job_id"] == JOB  # the name the hook resolved and started


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"replicas": "two"}, "replicas must be a whole number"),
        ({"max_batch_rows": 0}, "max_batch_rows must be at least 1"),
        ({"resources": {"cpus": 4}}, "resources accepts only cpu, memory and gpu"),
    ],
    ids=["text-replicas", "zero-rows", "unknown-resource"],
)
def test_bad_rendered_values_fail_before_submitting(hook, context, kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_op(wait_for_completion=False, **kwargs).execute(context)
    hook.start_batch_job.assert_not_called()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"save_mode": "replace"}, "save_mode must be"), ({"timeout": -5}, "timeout must be positive")],
    ids=["save-mode", "timeout"],
)
def test_bad_static_arguments_fail_at_parse_time(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_op(**kwargs)


def test_wait_for_completion_false_returns_after_submit(hook, context):
    result = make_op(wait_for_completion=False, deferrable=True).execute(context)

    assert result == {
        "job_id": JOB,
        "job_name": NAME,
        "status": "PENDING",
        "output_location": FOLDER.sql,
        "reused": False,
    }
    hook.wait_for_job.assert_not_called()
    assert pushed(context)[JOB_XCOM_KEY]["job_id"] == JOB
    assert context["task_state_store"].values == stored(JOB)


def op_key() -> str:
    return SnowflakeBatchInferenceOperator.external_id_key


def test_template_fields_render_input_query_from_a_sql_file(tmp_path):
    (tmp_path / "features.sql").write_text("SELECT * FROM features WHERE ds = '{{ ds }}'")
    with DAG("scoring", template_searchpath=[str(tmp_path)]):
        op = make_op(input_table=None, input_query="features.sql", replicas="{{ params.n }}", params={"n": 3})

    op.render_template_fields({"ds": "2026-01-01", "params": {"n": 3}})

    assert op.input_query == "SELECT * FROM features WHERE ds = '2026-01-01'"
    assert op.replicas == "3"


# -- deferrable ----------------------------------------------------------------------------------


def test_defers_with_a_deadline_after_publishing_the_job(hook, context, clock):
    op = make_op(deferrable=True, cancel_on_kill=False)

    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)

    trigger = deferred.value.trigger
    assert isinstance(trigger, SnowflakeBatchInferenceJobTrigger)
    assert trigger.serialize()[1] == {
        "job_id": JOB,
        "snowflake_conn_id": "sf",
        "poll_interval": 15.0,
        "deadline": NOW + 3600,
        "cancel_on_timeout": True,
        "cancel_on_kill": False,
        "hook_params": {
            "database": None,
            "schema": None,
            "warehouse": None,
            "role": None,
            "query_tag": {"dag_id": "scoring", "task_id": "score", "run_id": "manual__2026-01-01"},
        },
        # The job's folder, so the trigger can log its progress once a minute.
        "output_location": FOLDER.sql,
        "progress_interval": 60.0,
    }
    assert deferred.value.method_name == "execute_complete"
    # The defer timeout is a backstop, padded so the trigger's own deadline (which cancels) comes first.
    assert deferred.value.timeout == timedelta(seconds=3600 + 15 + 60)
    job = pushed(context)[JOB_XCOM_KEY]
    assert deferred.value.kwargs == {"job": job, "reattached": False}
    assert job == {
        "job_id": JOB,
        "job_name": NAME,
        "output_location": FOLDER.sql,
        "url": f"https://snowsight.example/#/compute/job/{JOB}",
    }
    assert context["task_state_store"].values == stored(JOB)
    hook.close.assert_called_once_with()


def test_execution_timeout_bounds_the_deadline_while_deferred(hook, context, clock):
    clock.time.return_value = NOW + 600  # the task started 10 minutes ago
    op = make_op(deferrable=True, timeout=None, execution_timeout=timedelta(minutes=30))

    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)

    assert deferred.value.trigger.deadline == NOW + 1800
    assert deferred.value.timeout == timedelta(seconds=1200 + 15 + 60)


@pytest.mark.parametrize("status", ["DONE", "FAILED"])
def test_an_already_finished_job_does_not_defer(hook, context, status):
    hook.start_batch_job.return_value = job_start(status, reattached=True)
    op = make_op(deferrable=True)

    if status == "DONE":
        assert op.execute(context)["status"] == "DONE"
    else:
        with pytest.raises(BatchJobError, match=f"{JOB} ended FAILED. worker 0 exited 1"):
            op.execute(context)
    hook.get_job_logs.assert_called_once_with(JOB)


def test_retried_task_reattaches_instead_of_submitting(hook, clock):
    hook.start_batch_job.return_value = job_start("RUNNING", reattached=True)
    context = make_context(try_number=2)

    with pytest.raises(TaskDeferred) as deferred:
        make_op(deferrable=True).execute(context)

    hook.start_batch_job.assert_called_once_with(
        hook.build_batch_job_spec.return_value, try_number=2, require_rows=False, rescore="if_changed"
    )
    assert deferred.value.trigger.job_id == JOB


# -- resuming ------------------------------------------------------------------------------------

JOB_XCOM = {"job_id": JOB, "job_name": NAME, "output_location": FOLDER.sql, "url": ""}


def event(outcome: str, status: str, message: str = "") -> dict[str, str]:
    return {"outcome": outcome, "job_id": JOB, "job_status": status, "message": message}


def test_execute_complete_success_returns_the_job(hook, context):
    op = make_op(deferrable=True)
    result = op.execute_complete(context, event=event("success", "DONE"), job=JOB_XCOM)

    assert result == {
        "job_id": JOB,
        "job_name": NAME,
        "status": "DONE",
        "output_location": FOLDER.sql,
        "reused": False,
        "cost": {"wall_seconds": 3.25, "cpu_seconds": 5.5, "source": "local job", "reused": False},
    }
    hook.get_job_usage.assert_called_once_with(JOB)
    hook.list_files.assert_called_once_with(FOLDER.sql)
    hook.get_job_logs.assert_called_once_with(JOB)
    hook.close.assert_called_once_with()


def test_execute_complete_takes_a_done_job_without_success_marker_as_finished_with_a_warning(
    hook, context, capsys
):
    hook.list_files.return_value = ["data_0.parquet"]
    result = make_op().execute_complete(context, event=event("success", "DONE"), job=JOB_XCOM)
    assert result["status"] == "DONE"
    logged = capsys.readouterr().out
    assert "[warning" in logged
    assert f"{FOLDER.sql} has no _SUCCESS file: the job's status stands in for the marker" in logged


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        (event("failed", "FAILED", "OOM in replica 1"), f"{JOB} ended FAILED. OOM in replica 1"),
        (event("cancelled", "CANCELLED"), f"{JOB} ended CANCELLED"),
        (event("timeout", "CANCELLING", "deadline passed, cancelled."), f"{JOB} timed out"),
        (event("error", "UNKNOWN", "PermissionError"), f"Lost track of batch inference job {JOB}"),
    ],
    ids=["failed", "cancelled", "timeout", "error"],
)
def test_execute_complete_raises_unless_success(hook, context, payload, match):
    with pytest.raises(BatchJobError, match=match):
        make_op().execute_complete(context, event=payload, job=JOB_XCOM)
    hook.list_files.assert_not_called()


@pytest.mark.parametrize(
    "payload",
    [
        None,
        "success",
        {"outcome": "success", "job_status": "DONE"},
        {"outcome": "succeeded", "job_id": JOB, "job_status": "DONE"},
        {"outcome": "success", "job_id": JOB, "job_status": "FINISHED"},
        {"outcome": "success", "job_id": 42, "job_status": "DONE"},
    ],
    ids=["none", "string", "no-job-id", "bad-outcome", "bad-status", "bad-job-id"],
)
def test_execute_complete_fails_on_a_malformed_event(hook, context, payload):
    with pytest.raises(BatchJobError, match="resumed with"):
        make_op().execute_complete(context, event=payload, job=JOB_XCOM)
    hook.list_files.assert_not_called()


def test_execute_complete_rebuilds_the_job_when_kwargs_were_dropped(hook, context):
    """dag.test() resumes with the event only."""
    result = make_op().execute_complete(context, event=event("success", "DONE"))

    assert result == {
        "job_id": JOB,
        "job_name": NAME,
        "status": "DONE",
        "output_location": FOLDER.sql,
        "reused": False,
        "cost": mock.ANY,
    }
    hook.list_files.assert_called_once_with(FOLDER.sql)


@pytest.mark.parametrize(
    "job",
    [{**JOB_XCOM, "job_id": "ML.PUBLIC.X"}, {"job_id": JOB}, "ML.PUBLIC.X"],
    ids=["other-job", "incomplete", "not-a-dict"],
)
def test_execute_complete_rejects_a_job_that_does_not_match_the_event(hook, context, job):
    with pytest.raises(BatchJobError, match="deferred on"):
        make_op().execute_complete(context, event=event("success", "DONE"), job=job)


# -- synchronous ---------------------------------------------------------------------------------


def test_sync_waits_with_the_deadline_and_stores_the_job_id(hook, context, clock):
    hook.wait_for_job.return_value = state("DONE")

    result = make_op(deferrable=False).execute(context)

    assert result["status"] == "DONE" and result["output_location"] == FOLDER.sql
    hook.wait_for_job.assert_called_once_with(
        JOB, poll_interval=15.0, deadline=NOW + 3600, output_location=FOLDER.sql, progress_interval=60.0
    )
    assert context["task_state_store"].values == stored(JOB)
    assert pushed(context)[JOB_XCOM_KEY]["job_id"] == JOB


def test_sync_failed_job_raises_with_its_logs(hook, context):
    hook.wait_for_job.return_value = state("FAILED")

    with pytest.raises(BatchJobError, match=f"{JOB} ended FAILED"):
        make_op(deferrable=False).execute(context)
    hook.get_job_logs.assert_called_once_with(JOB)


def test_sync_timeout_ends_like_a_deferred_timeout(hook, context, clock):
    """At the deadline the hook cancels the job and raises; the operator then fails the task with the
    message a deferred wait gives, naming the partial output, after copying the job's logs."""

    def deadline_passes(job_id, *, poll_interval, deadline, **_):
        clock.time.return_value = deadline
        raise BatchJobError("the hook's own words")

    hook.wait_for_job.side_effect = deadline_passes

    with pytest.raises(BatchJobError) as failed:
        make_op(deferrable=False).execute(context)

    assert str(failed.value) == (
        f"Batch inference job {JOB} timed out. Job {JOB} did not finish before its deadline and was "
        f"cancelled. Partial output, if any, is under {FOLDER.sql}."
    )
    hook.get_job_logs.assert_called_once_with(JOB)
    hook.list_files.assert_not_called()


def test_sync_wait_error_before_the_deadline_propagates(hook, context, clock):
    lost = BatchJobError(f"Batch inference job {JOB} does not exist (or was dropped).")
    hook.wait_for_job.side_effect = lost

    with pytest.raises(BatchJobError) as failed:
        make_op(deferrable=False).execute(context)

    assert failed.value is lost  # not turned into a timeout: the deadline is an hour away


def assert_reattached_by_name(hook, context) -> None:
    """Below Airflow 3.3 the store is never read: the retry asks the hook to start its job, and the hook
    re-attaches to the earlier try's job through the deterministic name; the store is left alone."""
    hook.find_job.assert_not_called()
    hook.start_batch_job.assert_called_once_with(
        hook.build_batch_job_spec.return_value, try_number=2, require_rows=False, rescore="if_changed"
    )
    assert context["task_state_store"].values == {op_key(): JOB}


def test_sync_retry_reconnects_to_the_stored_running_job(hook):
    hook.find_job.return_value = state("RUNNING")
    hook.start_batch_job.return_value = job_start("RUNNING", reattached=True)
    hook.wait_for_job.return_value = state("DONE")
    context = make_context(try_number=2, store=FakeTaskStateStore({op_key(): JOB}))

    result = make_op(deferrable=False).execute(context)

    if AIRFLOW_V_3_3_PLUS:
        hook.start_batch_job.assert_not_called()
    else:
        assert_reattached_by_name(hook, context)
    hook.wait_for_job.assert_called_once_with(
        JOB, poll_interval=15.0, deadline=mock.ANY, output_location=FOLDER.sql, progress_interval=60.0
    )
    assert result["job_id"] == JOB and result["output_location"] == FOLDER.sql
    assert pushed(context)[JOB_XCOM_KEY]["job_name"] == NAME


def test_sync_retry_returns_a_stored_job_that_already_succeeded(hook):
    hook.find_job.return_value = state("DONE")
    hook.job_reuse.return_value = Reuse(True, "nothing changed")
    hook.get_job_state.return_value = state("DONE")
    hook.start_batch_job.return_value = job_start("DONE", reattached=True)
    hook.wait_for_job.return_value = state("DONE")  # the real hook returns at once for an ended job
    context = make_context(try_number=2, store=FakeTaskStateStore({op_key(): JOB}))

    result = make_op(deferrable=False).execute(context)

    assert result["job_id"] == JOB
    hook.list_files.assert_called_with(FOLDER.sql)  # the finish checks _SUCCESS and the results
    if AIRFLOW_V_3_3_PLUS:
        assert result["reused"] is True
        hook.job_reuse.assert_called_once_with(
            hook.build_batch_job_spec.return_value, "if_changed", job_id=JOB
        )
        hook.start_batch_job.assert_not_called()
        hook.wait_for_job.assert_not_called()
        # A reused job spent nothing this run: zero compute, and the job's usage is not even read.
        assert result["cost"]["reused"] is True
        assert (result["cost"]["wall_seconds"], result["cost"]["cpu_seconds"]) == (0.0, 0.0)
        hook.get_job_usage.assert_not_called()
    else:
        assert_reattached_by_name(hook, context)


@pytest.mark.skipif(not AIRFLOW_V_3_3_PLUS, reason="below Airflow 3.3 no stored job id is ever read")
@pytest.mark.parametrize(
    ("found", "marker"),
    [(state("FAILED"), True), (state("CANCELLED"), False), (None, True)],
    ids=["failed", "cancelled", "missing"],
)
def test_sync_retry_submits_again_when_the_stored_job_is_unusable(hook, found, marker):
    hook.find_job.return_value = found
    hook.has_success_marker.side_effect = [marker, True]
    retried = JobStart(
        f"{JOB}_T2", f"{NAME}_T2", BASE.child(f"{NAME}_T2"), state("PENDING", f"{JOB}_T2"), False
    )
    hook.start_batch_job.return_value = retried
    hook.wait_for_job.return_value = state("DONE", f"{JOB}_T2")
    context = make_context(try_number=2, store=FakeTaskStateStore({op_key(): JOB}))

    result = make_op(deferrable=False).execute(context)

    hook.start_batch_job.assert_called_once_with(
        hook.build_batch_job_spec.return_value, try_number=2, require_rows=False, rescore="if_changed"
    )
    assert result["job_id"] == f"{JOB}_T2"
    assert context["task_state_store"].values == {op_key(): f"{JOB}_T2"}


@pytest.mark.skipif(not AIRFLOW_V_3_3_PLUS, reason="below Airflow 3.3 no stored job id is ever read")
@pytest.mark.parametrize("rescore", ["if_changed", "always"])
def test_sync_retry_does_not_return_a_finished_job_whose_inputs_changed(hook, rescore):
    """The stored job id route obeys rescore: a DONE job with _SUCCESS scored from something else (or
    rescore="always") is not returned; the hook decides again, which submits this try's own job."""
    hook.find_job.return_value = state("DONE")
    hook.has_success_marker.return_value = True
    hook.job_reuse.return_value = Reuse(False, "model version V1 -> V2")
    retried = JobStart(
        f"{JOB}_T2", f"{NAME}_T2", BASE.child(f"{NAME}_T2"), state("PENDING", f"{JOB}_T2"), False
    )
    hook.start_batch_job.return_value = retried
    hook.wait_for_job.return_value = state("DONE", f"{JOB}_T2")
    context = make_context(try_number=2, store=FakeTaskStateStore({op_key(): JOB}))

    result = make_op(deferrable=False, rescore=rescore).execute(context)

    hook.job_reuse.assert_called_once_with(hook.build_batch_job_spec.return_value, rescore, job_id=JOB)
    hook.start_batch_job.assert_called_once_with(
        hook.build_batch_job_spec.return_value, try_number=2, require_rows=False, rescore=rescore
    )
    assert (result["job_id"], result["reused"]) == (f"{JOB}_T2", False)


# -- killing -------------------------------------------------------------------------------------


def test_on_kill_cancels_the_submitted_job(hook, context):
    op = make_op(wait_for_completion=False)
    op.execute(context)

    op.on_kill()

    hook.cancel_job.assert_called_once_with(JOB)


def test_on_kill_respects_cancel_on_kill(hook, context):
    op = make_op(wait_for_completion=False, cancel_on_kill=False)
    op.execute(context)

    op.on_kill()

    hook.cancel_job.assert_not_called()


def test_on_kill_before_submit_does_nothing(hook):
    make_op().on_kill()
    hook.cancel_job.assert_not_called()


def test_hook_class_is_the_real_one():
    """The patched name is the hook the operator builds, imported only then (not when a DAG is parsed)."""
    import airflow_snowflake_batch.operators.batch_job as module

    assert not hasattr(module, "SnowflakeBatchInferenceHook")
    hook = make_op().make_hook(None)
    assert type(hook) is SnowflakeBatchInferenceHook and hook.snowflake_conn_id == "sf"


@pytest.mark.parametrize("status", ["CANCELLED", "DELETED", "DELETING"])
def test_a_reattached_job_cancelled_or_dropped_from_outside_is_resubmitted_whatever_the_status_says(
    hook, context, status
):
    """snowflake-ml reports a cancelled job CANCELLED; DESCRIBE SERVICE's documented list has only
    DELETED/DELETING for a service that is gone. Either report of an earlier try's job, cancelled after
    this try re-attached to it, leads to the same outcome: this try submits its own job (issue 18 item 5)."""
    hook.start_batch_job.return_value = job_start("PENDING")
    with pytest.raises(TaskDeferred) as resumed:
        make_op(deferrable=True).execute_complete(
            context, event=event("cancelled", status), job=JOB_XCOM, reattached=True
        )

    assert resumed.value.kwargs["reattached"] is False
    hook.start_batch_job.assert_called_once()


def test_an_empty_input_succeeds_with_a_warning_naming_the_job(hook, context, capsys):
    """Issue 22 item 4: a job folder with only _SUCCESS means the input had no rows."""
    hook.list_files.return_value = ["_SUCCESS"]
    result = make_op().execute_complete(context, event=event("success", "DONE"), job=JOB_XCOM)
    assert result["status"] == "DONE"
    logged = capsys.readouterr().out
    assert "warning" in logged
    assert f"{JOB} scored no rows: its input was empty ({FOLDER.sql} holds only _SUCCESS)" in logged


def test_fail_on_empty_input_fails_an_empty_job_and_asks_the_hook_to_count_first(hook, context):
    hook.list_files.return_value = ["_SUCCESS"]
    with pytest.raises(
        BatchJobError, match="scored no rows: its input was empty and fail_on_empty_input is True"
    ):
        make_op(fail_on_empty_input=True).execute_complete(
            context, event=event("success", "DONE"), job=JOB_XCOM
        )
    with pytest.raises(TaskDeferred):
        make_op(fail_on_empty_input=True, deferrable=True).execute(context)
    assert hook.start_batch_job.call_args.kwargs["require_rows"] is True
