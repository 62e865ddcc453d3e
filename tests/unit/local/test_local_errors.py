"""Errors a DAG author can act on (issue 10, items 4, 6 and 7): job names, engine errors, missing results."""

from __future__ import annotations

import pandas as pd
import pytest

from airflow_snowflake_batch.backends.local.job_runner import work_units
from airflow_snowflake_batch.exceptions import (
    InputValidationError,
    InvalidIdentifierError,
    ResultsNotReadyError,
)
from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook
from airflow_snowflake_batch.local import LocalWorkspace


def _spec(hook: SnowflakeBatchInferenceHook, job_name: str) -> object:
    return hook.build_batch_job_spec(
        model_name="IRIS",
        version_name=None,
        function_name="PREDICT",
        source=hook.input_source(input_table="INPUT"),
        compute_pool="POOL",
        output_stage_location="@OUT/preds",
        job_name=job_name,
    )


@pytest.mark.parametrize("job_name", ['"NEST/INNER"', '".."', '"."', "A$B", '"a b"', '"x\\y"'])
def test_job_names_that_cannot_name_one_folder_are_refused_naming_job_name(
    hook: SnowflakeBatchInferenceHook, job_name: str
) -> None:
    with pytest.raises(InvalidIdentifierError, match=r"Invalid job_name .*letters, digits and '_'"):
        _spec(hook, job_name)


def test_a_missing_upstream_output_location_says_the_job_produced_no_results(
    hook: SnowflakeBatchInferenceHook,
) -> None:
    for missing in (None, "None", ""):
        with pytest.raises(ResultsNotReadyError, match="upstream batch inference task produced no results"):
            hook.load_results(output_location=missing, target_table="LOADED")


def _write_job_folder(workspace: LocalWorkspace, files: dict[str, bytes | pd.DataFrame]) -> str:
    folder = workspace.path_of("@OUT/preds/JOB_X/")
    folder.mkdir(parents=True)
    for name, content in files.items():
        if isinstance(content, pd.DataFrame):
            content.to_parquet(folder / name)
        else:
            (folder / name).write_bytes(content)
    return "@OUT/preds/JOB_X/"


def test_a_corrupt_result_file_is_named_with_what_to_do(
    hook: SnowflakeBatchInferenceHook, workspace: LocalWorkspace
) -> None:
    location = _write_job_folder(
        workspace,
        {"_SUCCESS": b"", "data_0.parquet": pd.DataFrame({"A": [1]}), "data_1.parquet": b"PAR1 not parquet"},
    )
    with pytest.raises(
        InputValidationError, match=r"data_1\.parquet .*not a readable Parquet file.*Replace or remove"
    ):
        hook.load_results(output_location=location, target_table="LOADED")
    assert not workspace.table_exists("LOADED")


def test_a_type_clash_names_the_table_and_its_columns(
    hook: SnowflakeBatchInferenceHook, workspace: LocalWorkspace
) -> None:
    workspace.write_table("LOADED", pd.DataFrame({"A": [1, 2]}))
    location = _write_job_folder(
        workspace, {"_SUCCESS": b"", "data_0.parquet": pd.DataFrame({"A": ["not a number"]})}
    )
    with pytest.raises(
        InputValidationError, match=r"ML\.PUBLIC\.LOADED.*does not fit.*A \(string in the files"
    ):
        hook.load_results(output_location=location, target_table="LOADED")
    assert workspace.read_table("LOADED")["A"].tolist() == [1, 2]


def test_a_corrupt_input_file_of_a_job_is_named(workspace: LocalWorkspace) -> None:
    workspace.create_stage("IN")
    folder = workspace.path_of("@IN/")
    workspace.read_table("INPUT").to_parquet(folder / "good.parquet")
    (folder / "bad.parquet").write_bytes(b"truncated")
    with pytest.raises(
        ValueError, match=r"Input file bad\.parquet is not a readable Parquet file.*replace or remove"
    ):
        work_units({"workspace": str(workspace.root), "input_dir": str(folder)})
