"""The local backend never opens a path outside its workspace: crafted names, dotted names, symlinks.

Each case of issue 10's path-traversal probe runs for real (workspace files, detached job processes)
with a target planted next to the workspace, where the unfixed backend reached it.
"""

from __future__ import annotations

import base64
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given
from local_support import wait_terminal
from strategies import hostile_name, hostile_text

from airflow_snowflake_batch.backends.local.layout import Layout, segment
from airflow_snowflake_batch.exceptions import (
    BatchJobError,
    InvalidIdentifierError,
    ModelNotFoundError,
    SnowflakeBatchInferenceError,
    StageValidationError,
    WorkspacePathError,
)
from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook
from airflow_snowflake_batch.identifiers import Identifier, ObjectName, StageLocation
from airflow_snowflake_batch.job_status import BatchJobStatus
from airflow_snowflake_batch.local import LocalWorkspace

UP = '"..".".."'  # DATABASE.SCHEMA parts that led two folders up from <root>/<kind>/


def submit(hook: SnowflakeBatchInferenceHook, job_name: str, **options: Any) -> Any:
    source = hook.input_source(
        input_table=options.pop("input_table", None if "input_stage_location" in options else "INPUT"),
        input_stage_location=options.pop("input_stage_location", None),
    )
    spec = hook.build_batch_job_spec(
        model_name=options.pop("model_name", "IRIS"),
        version_name=None,
        function_name="PREDICT",
        source=source,
        compute_pool="POOL",
        output_stage_location=options.pop("output_stage_location", "@OUT/preds"),
        job_name=job_name,
        **options,
    )
    return hook.start_batch_job(spec)


def files_under(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


# -- crafted names --------------------------------------------------------------------------------


def test_dotted_job_namespaces_and_job_ids_stay_inside_the_workspace(
    local_hook: SnowflakeBatchInferenceHook, workspace: LocalWorkspace, tmp_path: Path
) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("precious")

    start = submit(local_hook, f'{UP}."victim"')

    assert wait_terminal(local_hook, start.job_id).status is BatchJobStatus.DONE
    assert files_under(victim) == {"keep.txt": b"precious"}  # not removed, nothing written there
    job_dir = workspace.layout.job_dir(ObjectName.parse(start.job_id))
    assert job_dir.is_relative_to(workspace.root) and (job_dir / "job.json").is_file()

    # A sensor's job_id of the same shape never reads a (real, copied) job record planted outside.
    shutil.copytree(job_dir, tmp_path / "victim_job")
    job_id = f'{UP}."victim_job"'
    assert local_hook.find_job(job_id) is None
    with pytest.raises(BatchJobError, match="does not exist"):
        local_hook.get_job_state(job_id)


def test_a_dotted_model_namespace_never_loads_a_model_from_outside(
    local_hook: SnowflakeBatchInferenceHook, workspace: LocalWorkspace, tmp_path: Path
) -> None:
    # A copy of a real model folder (model.json, versions/V1/model.pkl), planted two levels up.
    shutil.copytree(workspace.layout.model_dir(workspace.name("IRIS")), tmp_path / "evil_model")

    with pytest.raises(ModelNotFoundError, match="does not exist"):
        local_hook.get_model_version(f'{UP}."evil_model"')


def test_a_row_naming_a_dotted_stage_file_cannot_read_outside(
    local_hook: SnowflakeBatchInferenceHook, workspace: LocalWorkspace, tmp_path: Path
) -> None:
    from local_models import FileSizer

    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_bytes(b"s" * 37)
    workspace.write_table("PICS", pd.DataFrame({"ID": [0], "IMAGE": [f'@{UP}."outside"/secret.txt']}))
    sample = pd.DataFrame({"IMAGE": [base64.b64encode(b"abcd").decode()]})
    workspace.log_model(FileSizer(), model_name="SIZER", version_name="V1", sample_input_data=sample)

    start = submit(
        local_hook,
        "JOB_PICS",
        model_name="SIZER",
        input_table="PICS",
        column_handling={"IMAGE": {"input_format": "full_stage_path", "convert_to": "base64"}},
    )

    state = wait_terminal(local_hook, start.job_id)
    assert state.status is BatchJobStatus.FAILED
    assert "does not exist" in state.message
    assert not [f for f in local_hook.list_files(start.output_location) if f.endswith(".parquet")]


@given(name=hostile_name)
def test_hostile_names_map_to_folders_inside_the_workspace(tmp_path_factory: Any, name: str) -> None:
    """Whatever a name holds, each of its parts is one folder name, and every path lies in the root."""
    layout = Layout.at(tmp_path_factory.getbasetemp() / "layout")
    try:
        parsed = ObjectName.parse(name).qualify("ML", "PUBLIC")
    except InvalidIdentifierError:
        return
    for part in (parsed.database, parsed.schema, parsed.name):
        assert part is not None
        folder = segment(part)
        assert folder not in ("", ".", "..") and "/" not in folder and "\x00" not in folder
    paths = [
        layout.stage_dir(parsed),
        layout.model_dir(parsed),
        layout.job_dir(parsed),
        layout.database_file(parsed.database),  # type: ignore[arg-type]
        layout.location_dir(StageLocation(parsed, "a/b/")),
    ]
    assert all(p.is_relative_to(layout.root) for p in paths)


@given(text=hostile_text)
def test_hostile_identifiers_round_trip_through_their_folder_names(text: str) -> None:
    try:
        identifier = Identifier(text)
    except InvalidIdentifierError:
        return
    from airflow_snowflake_batch.backends.local.layout import identifier_of

    assert identifier_of(segment(identifier)) == identifier


@given(name=hostile_name)
def test_hostile_names_through_the_local_hook_fail_cleanly(
    local_hook: SnowflakeBatchInferenceHook, name: str
) -> None:
    """Look-ups with hostile names end in a clean provider error (or nothing found), never elsewhere."""
    for call in (
        lambda: local_hook.get_model_version(name),
        lambda: local_hook.find_job(name),
        lambda: local_hook.list_files(f"@{name}/x/"),
        lambda: local_hook.input_source(input_table=name),
    ):
        try:
            call()
        except SnowflakeBatchInferenceError as exc:  # a missing stage too (issue 19, item 6)
            assert str(exc)


# -- symlinks -------------------------------------------------------------------------------------


def test_a_symlinked_input_file_pointing_outside_is_refused(
    local_hook: SnowflakeBatchInferenceHook, workspace: LocalWorkspace, tmp_path: Path
) -> None:
    from airflow_snowflake_batch.backends.local.job_runner import work_units

    secret = tmp_path / "secret.parquet"
    workspace.read_table("INPUT").to_parquet(secret)
    workspace.create_stage("IN")
    folder = workspace.path_of("@IN/batch/")
    folder.mkdir(parents=True)
    (folder / "data.parquet").symlink_to(secret)

    with pytest.raises(WorkspacePathError, match="outside the local workspace"):
        local_hook.list_files("@IN/batch/")
    # What the job process does with the folder it was given (its record names the workspace).
    with pytest.raises(WorkspacePathError, match="outside the local workspace"):
        work_units({"workspace": str(workspace.root), "input_dir": str(folder)})


def test_a_symlinked_file_named_by_a_row_is_refused(workspace: LocalWorkspace, tmp_path: Path) -> None:
    from airflow_snowflake_batch.backends.local.stages import file_of

    (tmp_path / "secret.txt").write_bytes(b"s" * 37)
    workspace.create_stage("IMAGES")
    folder = workspace.path_of("@IMAGES/cats/")
    folder.mkdir(parents=True)
    (folder / "cat.png").symlink_to(tmp_path / "secret.txt")
    (folder / "dog.png").write_bytes(b"d")

    # How the job process finds the file a column_handling row names.
    assert file_of(workspace.layout, "@IMAGES/cats/dog.png", "ML", "PUBLIC").read_bytes() == b"d"
    with pytest.raises(WorkspacePathError, match="outside the local workspace"):
        file_of(workspace.layout, "@IMAGES/cats/cat.png", "ML", "PUBLIC")


def test_a_symlinked_job_folder_is_never_written_through(
    local_hook: SnowflakeBatchInferenceHook, workspace: LocalWorkspace, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("precious")
    preds = workspace.path_of("@OUT/preds/")
    preds.mkdir(parents=True)
    (preds / "JOB_LINKED").symlink_to(elsewhere, target_is_directory=True)

    with pytest.raises(WorkspacePathError, match="outside the local workspace"):
        submit(local_hook, "JOB_LINKED", save_mode="overwrite")

    assert files_under(elsewhere) == {"keep.txt": b"precious"}


def test_output_inside_the_input_folder_is_refused(
    local_hook: SnowflakeBatchInferenceHook, workspace: LocalWorkspace
) -> None:
    """A second run would read the first run's results as input (issue 10, item 5)."""
    workspace.create_stage("IN")
    workspace.read_table("INPUT").to_parquet(workspace.path_of("@IN/") / "data.parquet")

    with pytest.raises(StageValidationError, match="lies inside the input location"):
        submit(local_hook, "JOB_NESTED", input_stage_location="@IN/", output_stage_location="@IN/preds")
    assert workspace.list_files("@IN/") == ["data.parquet"]


# -- job records planted by hand (issue 19, items 1 and 2) ----------------------------------------


def plant_job(job_dir: Path, *, status: str, scratch_input: str | None = None) -> None:
    """A job record as submit writes it, whose process is long gone (no process.json, an old status)."""
    import json

    job_dir.mkdir(parents=True, exist_ok=True)
    (job_dir / "job.json").write_text(json.dumps({"job_id": job_dir.name, "scratch_input": scratch_input}))
    (job_dir / "status.json").write_text(json.dumps({"status": status, "message": "", "updated_on": 0.0}))


def test_a_symlinked_job_record_is_skipped_by_the_cleanup_listing(
    local_hook: SnowflakeBatchInferenceHook, workspace: LocalWorkspace, tmp_path: Path
) -> None:
    """The listing followed the link, marked the job INTERNAL_ERROR there and created job.log there."""
    from datetime import timedelta

    elsewhere = tmp_path / "elsewhere"
    plant_job(elsewhere, status="RUNNING")
    before = files_under(elsewhere)
    schema_jobs = workspace.root / "jobs" / "ML" / "PUBLIC"
    schema_jobs.mkdir(parents=True)
    (schema_jobs / "AIRFLOW_BATCH_LINK").symlink_to(elsewhere, target_is_directory=True)

    plan = local_hook.plan_cleanup(output_stage_location="@OUT/preds", older_than=timedelta(days=1))

    assert files_under(elsewhere) == before  # nothing rewritten, no job.log created
    assert "ML.PUBLIC.AIRFLOW_BATCH_LINK" not in [*plan.drop_jobs, *plan.kept_running]


def test_listing_jobs_never_writes_a_job_record(
    local_hook: SnowflakeBatchInferenceHook, workspace: LocalWorkspace
) -> None:
    """A dry-run cleanup only reads: a lost job is reported INTERNAL_ERROR, its record is left as it is."""
    from datetime import timedelta

    job_dir = workspace.root / "jobs" / "ML" / "PUBLIC" / "AIRFLOW_BATCH_LOST"
    plant_job(job_dir, status="RUNNING")
    before = files_under(job_dir)

    (listed,) = local_hook.backend.list_jobs(Identifier("ML"), Identifier("PUBLIC"))
    plan = local_hook.plan_cleanup(output_stage_location="@OUT/preds", older_than=timedelta(0))

    assert listed.status is BatchJobStatus.INTERNAL_ERROR
    assert list(plan.drop_jobs) == ["ML.PUBLIC.AIRFLOW_BATCH_LOST"]
    assert files_under(job_dir) == before


def test_a_planted_job_log_symlink_is_never_appended_to(workspace: LocalWorkspace, tmp_path: Path) -> None:
    from airflow_snowflake_batch.backends.local import jobs

    outside = tmp_path / "outside.log"
    outside.write_text("precious")
    job_dir = workspace.root / "jobs" / "ML" / "PUBLIC" / "J"
    plant_job(job_dir, status="RUNNING")
    (job_dir / "job.log").symlink_to(outside)

    with pytest.raises(OSError):
        jobs.log_line(job_dir, "hello")
    assert outside.read_text() == "precious"


def test_drop_job_never_removes_a_scratch_input_outside_the_workspace(
    local_hook: SnowflakeBatchInferenceHook, workspace: LocalWorkspace, tmp_path: Path
) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("precious")
    job_dir = workspace.root / "jobs" / "ML" / "PUBLIC" / "AIRFLOW_BATCH_SCRATCH"
    plant_job(job_dir, status="DONE", scratch_input=str(victim))

    local_hook.drop_job("ML.PUBLIC.AIRFLOW_BATCH_SCRATCH")

    assert files_under(victim) == {"keep.txt": b"precious"}
    assert not job_dir.exists()  # the record itself is still dropped


def test_drop_job_removes_a_scratch_input_inside_the_workspace(
    local_hook: SnowflakeBatchInferenceHook, workspace: LocalWorkspace
) -> None:
    scratch = workspace.path_of("@OUT/preds/") / "_snowflake_temporary" / "abc"
    scratch.mkdir(parents=True)
    (scratch / "data_0.parquet").write_bytes(b"x")
    plant_job(workspace.root / "jobs" / "ML" / "PUBLIC" / "J", status="DONE", scratch_input=str(scratch))

    local_hook.drop_job("ML.PUBLIC.J")

    assert not scratch.exists()
