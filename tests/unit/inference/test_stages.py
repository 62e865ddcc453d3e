"""Whether a job may write to its output stage and folder (``inference.stages``)."""

from __future__ import annotations

import pytest

from airflow_snowflake_batch.backends.base import FileInput, InputSource, StageInfo
from airflow_snowflake_batch.exceptions import StageValidationError
from airflow_snowflake_batch.identifiers import ObjectName, StageLocation
from airflow_snowflake_batch.inference.stages import check_folder_for_mode, check_nesting, check_output_stage

BASE = StageLocation.parse("@DB.SC.OUT/preds/")
FOLDER = BASE.child("JOB")


def _stage(internal: bool = True, encryption: str | None = "SNOWFLAKE_SSE") -> StageInfo:
    return StageInfo(name=BASE.stage, is_internal=internal, encryption=encryption)


def test_a_missing_stage_says_how_to_create_it() -> None:
    with pytest.raises(
        StageValidationError, match=r"CREATE STAGE DB.SC.OUT ENCRYPTION = \(TYPE = 'SNOWFLAKE_SSE'\)"
    ):
        check_output_stage(BASE, None, file_inputs=False)


def test_an_external_stage_is_refused() -> None:
    with pytest.raises(StageValidationError, match="is external"):
        check_output_stage(BASE, _stage(internal=False, encryption=None), file_inputs=False)


def test_full_encryption_is_refused_for_file_inputs_and_only_warned_about_otherwise() -> None:
    with pytest.raises(StageValidationError, match="Recreate it with ENCRYPTION"):
        check_output_stage(BASE, _stage(encryption="SNOWFLAKE_FULL"), file_inputs=True)
    warning = check_output_stage(BASE, _stage(encryption="SNOWFLAKE_FULL"), file_inputs=False)
    assert warning is not None and "uses SNOWFLAKE_FULL encryption" in warning
    assert check_output_stage(BASE, _stage(), file_inputs=True) is None


def test_inputs_inside_the_output_and_outputs_inside_the_input_are_refused() -> None:
    with pytest.raises(StageValidationError, match="lies inside the output location"):
        check_nesting(BASE, FOLDER, InputSource(stage_location=BASE.child("in")))
    with pytest.raises(StageValidationError, match="lies inside the output location"):
        check_nesting(BASE, FOLDER, InputSource(files=FileInput(location=BASE.child("img"))))
    parent = StageLocation.parse("@DB.SC.OUT/")
    with pytest.raises(StageValidationError, match="lies inside the input location"):
        check_nesting(BASE, FOLDER, InputSource(stage_location=parent))
    check_nesting(BASE, FOLDER, InputSource(stage_location=StageLocation.parse("@DB.SC.OUT/in/")))
    check_nesting(BASE, FOLDER, InputSource(table=ObjectName.parse("DB.SC.T")))


def test_error_mode_refuses_a_folder_with_files_and_overwrite_does_not() -> None:
    with pytest.raises(StageValidationError, match=r"already holds 2 file\(s\) \(e.g. '_SUCCESS'\)"):
        check_folder_for_mode(FOLDER, ["_SUCCESS", "a.parquet"], "error")
    check_folder_for_mode(FOLDER, ["_SUCCESS"], "overwrite")
    check_folder_for_mode(FOLDER, [], "error")


def test_an_output_folder_inside_the_input_files_folder_is_refused() -> None:
    """input_files="@MEDIA/img/", output "@MEDIA/img/out/": the next run would score this run's
    _SUCCESS and Parquet files as images (issue 19 item 3)."""
    media = StageLocation.parse("@DB.SC.MEDIA/img/")
    out = StageLocation.parse("@DB.SC.MEDIA/img/out/")
    with pytest.raises(
        StageValidationError,
        match=r"Output folder @DB.SC.MEDIA/img/out/JOB/ lies inside the input location @DB.SC.MEDIA/img/",
    ):
        check_nesting(out, out.child("JOB"), InputSource(files=FileInput(location=media)))
    elsewhere = StageLocation.parse("@DB.SC.MEDIA/scores/")
    check_nesting(elsewhere, elsewhere.child("JOB"), InputSource(files=FileInput(location=media)))


def test_a_full_folder_without_a_job_is_explained_as_an_expired_or_dropped_job() -> None:
    """Item 7 of issue 18: a cleared run of an older day finds no job (Snowflake keeps a finished job
    14 days) and its folder full: the error says why, and whether finished results are there."""
    with pytest.raises(StageValidationError) as finished:
        check_folder_for_mode(FOLDER, ["_SUCCESS", "a.parquet"], "error")
    with pytest.raises(StageValidationError) as partial:
        check_folder_for_mode(FOLDER, ["a.parquet"], "error")
    name = FOLDER.path.rstrip("/").rsplit("/", 1)[-1]
    assert f"no job named {name} exists" in str(finished.value)
    assert "about 14 days after a job ends" in str(finished.value)
    assert "It holds _SUCCESS" in str(finished.value) and "It holds _SUCCESS" not in str(partial.value)
