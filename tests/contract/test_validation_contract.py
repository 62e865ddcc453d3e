"""Every check the hook makes before anything runs: the same exception class and key words on both
backends, and nothing written."""

from __future__ import annotations

import pandas as pd
import pytest
from contract_sides import MODEL
from contract_support import OUTPUT, features, load, rows, stage_job_output, warehouse

from airflow_snowflake_batch.exceptions import (
    FunctionResolutionError,
    InputValidationError,
    InvalidIdentifierError,
    ModelNotFoundError,
    ResultsNotReadyError,
    StageValidationError,
)


def _inference(side, **kwargs):
    side.write_table("INPUT", kwargs.pop("frame", features(range(3))))
    return warehouse(side, **kwargs)


def _batch(side, frame: pd.DataFrame | None = None, source: dict[str, str] | None = None, **kwargs):
    side.write_table("INPUT", features(range(3)) if frame is None else frame)
    with side.hook() as hook:
        spec = hook.build_batch_job_spec(
            model_name=kwargs.pop("model_name", MODEL),
            version_name=None,
            function_name=None,
            source=hook.input_source(**(source or {"input_table": "INPUT"})),
            compute_pool="POOL",
            output_stage_location=kwargs.pop("output_stage_location", "@OUT/preds/"),
            job_name="JOB_1",
            **kwargs,
        )
        return hook.start_batch_job(spec)


def _input_files(side, location: str):
    """What the batch operator does first with ``input_files``: list the folder."""
    with side.hook() as hook:
        source = hook.input_source(input_files=location)
        assert source.files is not None
        return hook.list_input_files(source.files)


def _model(side, name: str):
    side.write_table("INPUT", features(range(3)))
    with side.hook() as hook:
        return hook.get_model_version(name)


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        pytest.param(lambda s: _model(s, "NOPE"), ModelNotFoundError, ["NOPE"], id="unknown-model"),
        pytest.param(
            lambda s: _inference(s, function_name="explain"),
            FunctionResolutionError,
            ["no function", "explain", "PREDICT"],
            id="unknown-function",
        ),
        pytest.param(
            lambda s: _inference(s, params={"temperature": 1}),
            InputValidationError,
            ["Unknown params", "temperature"],
            id="unknown-param",
        ),
        pytest.param(
            lambda s: _inference(s, frame=features(range(3)).drop(columns="SPECIES_CODE")),
            InputValidationError,
            ["missing column", "SPECIES_CODE", "Columns available"],
            id="missing-column",
        ),
        pytest.param(
            lambda s: _inference(s, frame=features(range(3)).assign(SPECIES_CODE=["a", "b", "c"])),
            InputValidationError,
            ["SPECIES_CODE", "expects INT64"],
            id="wrong-type",
        ),
        pytest.param(
            # "sepal_length" matches its feature exactly, SPECIES_CODE only by its normalized name.
            lambda s: _inference(
                s, frame=features(range(3)).rename(columns={"SEPAL_LENGTH": "sepal_length"})
            ),
            InputValidationError,
            ["never a mix", "By exact name", "By normalized name"],
            id="mixed-naming-rules",
        ),
        pytest.param(
            lambda s: _inference(s, frame=features(range(3)).assign(score=1.0)),
            InputValidationError,
            ["model output 'SCORE' would replace input column 'score'"],
            id="output-replaces-input",
        ),
        pytest.param(
            lambda s: _inference(s, output_partition={"ID": 1}),
            InputValidationError,
            ["output_partition column 'ID' would replace input column 'ID'"],
            id="partition-replaces-input",
        ),
        pytest.param(
            lambda s: _inference(
                s, frame=features(range(3)).assign(SPECIES_CODE=pd.array([1, None, 2], dtype="Int64"))
            ),
            InputValidationError,
            ["'SPECIES_CODE' has 1 NULL", "non-nullable INT64"],
            id="null-in-integer-feature",
        ),
        pytest.param(
            lambda s: _inference(s, output_partition={"AIRFLOW_MAP_INDEX": 1}, map_index=0),
            InputValidationError,
            ["AIRFLOW_MAP_INDEX", "map index"],
            id="map-index-column-taken",
        ),
        pytest.param(
            lambda s: _inference(s, output_partition={"DS": ["a"]}),
            InputValidationError,
            ["output_partition value", "DS", "list"],
            id="partition-value-type",
        ),
        pytest.param(
            lambda s: _inference(s, output_partition={"bad name": 1}),
            InvalidIdentifierError,
            ["output_partition column", "bad name"],
            id="partition-column-name",
        ),
        pytest.param(
            lambda s: _batch(s, output_stage_location="@MISSING/preds/"),
            StageValidationError,
            ["MISSING", "does not exist", "CREATE STAGE"],
            id="missing-output-stage",
        ),
        pytest.param(
            lambda s: _batch(s, frame=features(range(3)).assign(SCORE=1.0)),
            InputValidationError,
            ["model output 'SCORE' would replace input column 'SCORE'"],
            id="batch-output-replaces-input",
        ),
        pytest.param(
            lambda s: _batch(
                s, frame=features(range(3)).assign(SPECIES_CODE=pd.array([None, 1, 2], dtype="Int64"))
            ),
            InputValidationError,
            ["'SPECIES_CODE' has 1 NULL"],
            id="batch-null-in-integer-feature",
        ),
        pytest.param(
            lambda s: (stage_job_output(s, None, success=False), load(s)),
            ResultsNotReadyError,
            ["no _SUCCESS file", "require_success=False"],
            id="load-without-success",
        ),
        pytest.param(
            lambda s: (stage_job_output(s, None), load(s, create_table_if_missing=False)),
            InputValidationError,
            ["does not exist", "create_table_if_missing is False"],
            id="load-into-missing-table",
        ),
        # Issue 19, item 6: a missing stage is the provider's error naming the argument and the stage.
        pytest.param(
            lambda s: _batch(s, source={"input_stage_location": "@MISSING/in/"}),
            StageValidationError,
            ["input_stage_location", "MISSING", "does not exist"],
            id="missing-input-stage",
        ),
        pytest.param(
            lambda s: _input_files(s, "@MISSING/images/"),
            StageValidationError,
            ["input_files", "MISSING", "does not exist"],
            id="missing-input-files-stage",
        ),
        pytest.param(
            lambda s: load(s, folder="@MISSING/jobs/JOB_1/"),
            StageValidationError,
            ["output_location", "MISSING", "does not exist"],
            id="load-from-missing-stage",
        ),
        # Issue 19, item 11: a name over 255 characters names the argument it came in.
        pytest.param(
            lambda s: _batch(s, source={"input_table": "T" * 256}),
            InvalidIdentifierError,
            ["input_table", "256 characters", "1 to 255"],
            id="long-table-name",
        ),
        pytest.param(
            lambda s: _batch(s, model_name="M" * 300),
            InvalidIdentifierError,
            ["model_name", "300 characters", "1 to 255"],
            id="long-model-name",
        ),
        pytest.param(
            lambda s: _batch(s, output_stage_location="@" + "S" * 256 + "/preds/"),
            InvalidIdentifierError,
            ["output_stage_location", "256 characters", "1 to 255"],
            id="long-stage-name",
        ),
    ],
)
def test_bad_input_fails_before_anything_runs_with_the_same_error(side, call, error, words):
    with pytest.raises(error) as raised:
        call(side)
    for word in words:
        assert word in str(raised.value)
    assert side.read_table(OUTPUT) is None  # nothing written
    assert not list(side.stage_dir("@OUT/preds/").glob("**/*.parquet"))  # nothing scored


def test_a_full_output_folder_refuses_save_mode_error(side):
    stage_job_output(side, features(range(2)), folder="@OUT/preds/JOB_1/")
    with pytest.raises(StageValidationError, match="already holds 3 file"):
        _batch(side)


def test_a_null_in_a_nullable_integer_feature_is_scored_not_refused(side):
    """Only non-nullable integer features refuse NULLs (the case above); a nullable one hands the model
    pd.NA, as snowflake-ml's warehouse function does (``FeatureSpec.as_dtype()``)."""
    from contract_models import NullAware, null_aware_signature

    side.log_model("NULL_AWARE", NullAware(), null_aware_signature())
    side.write_table(
        "INPUT", pd.DataFrame({"ID": [1, 2, 3], "VISITS": pd.array([5, None, 7], dtype="Int64")})
    )
    assert warehouse(side, model_name="NULL_AWARE") == 3
    assert rows(side.read_table(OUTPUT), ["ID", "MISSING"]) == [(1.0, False), (2.0, True), (3.0, False)]
