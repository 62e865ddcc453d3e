"""Warehouse inference (``ModelVersion.run()`` into a table) through the hook on a local workspace."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from local_support import FEATURES

from airflow_snowflake_batch.exceptions import FunctionResolutionError, InputValidationError
from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook
from airflow_snowflake_batch.local import LocalWorkspace


def score(hook: SnowflakeBatchInferenceHook, **kwargs: Any) -> int:
    source = hook.input_source(
        input_table=kwargs.pop("input_table", None), input_query=kwargs.pop("input_query", None)
    )
    kwargs.setdefault("version_name", None)
    kwargs.setdefault("function_name", None)
    _, rows, _ = hook.run_warehouse_inference(source=source, **kwargs)
    return rows


def test_sklearn_scores_match_model_predict(
    hook: SnowflakeBatchInferenceHook, workspace: LocalWorkspace, sk_model: Any, rows: pd.DataFrame
) -> None:
    written = score(
        hook, model_name="IRIS", function_name="predict_proba", input_table="INPUT", output_table="PREDS"
    )
    result = workspace.sql("SELECT * FROM ML.PUBLIC.PREDS ORDER BY ID")
    assert written == len(rows) == len(result)
    # Inputs first, then outputs named as Snowflake names them (exact feature match → inferred names).
    assert list(result.columns) == [*rows.columns, "OUTPUT_FEATURE_0", "OUTPUT_FEATURE_1"]
    expected = sk_model.predict_proba(rows[FEATURES])
    np.testing.assert_allclose(
        result[["OUTPUT_FEATURE_0", "OUTPUT_FEATURE_1"]].to_numpy(), expected, rtol=1e-12
    )


def test_xgboost_scores_from_a_three_part_query(
    hook: SnowflakeBatchInferenceHook, workspace: LocalWorkspace, xgb_model: Any, rows: pd.DataFrame
) -> None:
    workspace.log_model(
        xgb_model, model_name="XGB", version_name="V1", sample_input_data=rows[FEATURES].head(100)
    )
    query = "SELECT * FROM ML.PUBLIC.INPUT WHERE ID >= 30"
    written = score(
        hook, model_name="XGB", function_name="PREDICT", input_query=query, output_table="XGB_PREDS"
    )
    result = workspace.sql("SELECT * FROM ML.PUBLIC.XGB_PREDS ORDER BY ID")
    subset = rows[rows["ID"] >= 30]
    assert written == len(subset)
    np.testing.assert_array_equal(result["OUTPUT_FEATURE_0"].to_numpy(), xgb_model.predict(subset[FEATURES]))


def test_lowercase_features_get_normalized_output_names(
    hook: SnowflakeBatchInferenceHook, workspace: LocalWorkspace, rows: pd.DataFrame
) -> None:
    from sklearn.linear_model import LinearRegression

    lower = rows[FEATURES].rename(columns=str.lower)
    model = LinearRegression().fit(lower, rows["ID"])
    workspace.log_model(model, model_name="REG", version_name="V1", sample_input_data=lower)
    score(hook, model_name="REG", input_table="INPUT", output_table="REG_PREDS")
    result = workspace.read_table("REG_PREDS").sort_values("ID")
    # The table's SEPAL_LENGTH feeds feature sepal_length (Snowflake's NORMALIZED rule), so the
    # output is OUTPUT_FEATURE_0, as ModelVersion.run() names it.
    assert "OUTPUT_FEATURE_0" in result.columns
    np.testing.assert_allclose(result["OUTPUT_FEATURE_0"].to_numpy(), model.predict(lower), rtol=1e-9)


def test_partition_replace_is_idempotent(
    hook: SnowflakeBatchInferenceHook, workspace: LocalWorkspace, rows: pd.DataFrame
) -> None:
    def run_day(day: str) -> int:
        return score(
            hook,
            model_name="IRIS",
            function_name="PREDICT",
            output_table="DAILY",
            output_mode="append",
            input_query=f"SELECT * FROM ML.PUBLIC.INPUT WHERE DAY = '{day}'",
            output_partition={"ds": day},
        )

    first = run_day("2024-01-01")
    run_day("2024-01-02")
    again = run_day("2024-01-01")  # a rerun of the first day
    counts = workspace.sql("SELECT DS, count(*) AS N FROM ML.PUBLIC.DAILY GROUP BY DS ORDER BY DS")
    per_day = rows.groupby("DAY").size()
    assert first == again == per_day["2024-01-01"]
    assert counts.to_dict("list") == {"DS": ["2024-01-01", "2024-01-02"], "N": per_day.tolist()}
    # Each partition holds exactly its own day's rows.
    mismatched = workspace.sql("SELECT count(*) AS N FROM ML.PUBLIC.DAILY WHERE DAY <> DS")
    assert mismatched["N"].tolist() == [0]


def test_overwrite_replaces_and_append_adds(
    hook: SnowflakeBatchInferenceHook, workspace: LocalWorkspace
) -> None:
    common = {"model_name": "IRIS", "function_name": "PREDICT", "output_table": "T"}
    score(hook, input_query="SELECT * FROM INPUT WHERE ID < 10", **common)
    score(hook, input_query="SELECT * FROM INPUT WHERE ID < 5", output_mode="overwrite", **common)
    assert len(workspace.read_table("T")) == 5
    score(hook, input_query="SELECT * FROM INPUT WHERE ID < 5", output_mode="append", **common)
    assert len(workspace.read_table("T")) == 10


def test_custom_model_receives_params(
    hook: SnowflakeBatchInferenceHook, workspace: LocalWorkspace, rows: pd.DataFrame
) -> None:
    from local_models import Scaler

    workspace.log_model(
        Scaler(), model_name="SCALER", version_name="V1", sample_input_data=rows[FEATURES].head(10)
    )
    score(hook, model_name="SCALER", input_table="INPUT", output_table="SCALED", params={"FACTOR": 10.0})
    score(hook, model_name="SCALER", input_table="INPUT", output_table="DEFAULTED")
    scaled = workspace.sql("SELECT SCALED FROM SCALED ORDER BY ID")["SCALED"].to_numpy()
    defaulted = workspace.sql("SELECT SCALED FROM DEFAULTED ORDER BY ID")["SCALED"].to_numpy()
    np.testing.assert_allclose(scaled, rows["SEPAL_LENGTH"].to_numpy() * 10.0)
    np.testing.assert_allclose(defaulted, rows["SEPAL_LENGTH"].to_numpy() * 2.0)  # the declared default


def test_missing_column_is_reported_before_writing(
    hook: SnowflakeBatchInferenceHook, workspace: LocalWorkspace
) -> None:
    with pytest.raises(InputValidationError, match="missing column 'PETAL_LENGTH'"):
        score(
            hook,
            model_name="IRIS",
            function_name="PREDICT",
            output_table="BAD",
            input_query="SELECT ID, SEPAL_LENGTH, SEPAL_WIDTH FROM ML.PUBLIC.INPUT",
        )
    assert not workspace.table_exists("BAD")


def test_wrong_column_type_is_reported(hook: SnowflakeBatchInferenceHook, workspace: LocalWorkspace) -> None:
    query = "SELECT ID, SEPAL_LENGTH, SEPAL_WIDTH, CAST(PETAL_LENGTH AS VARCHAR) AS PETAL_LENGTH FROM INPUT"
    with pytest.raises(
        InputValidationError,
        match="'PETAL_LENGTH' has type VARCHAR, but feature 'PETAL_LENGTH' expects DOUBLE",
    ):
        score(hook, model_name="IRIS", function_name="PREDICT", output_table="BAD", input_query=query)


def test_unknown_function_and_missing_table(hook: SnowflakeBatchInferenceHook) -> None:
    with pytest.raises(FunctionResolutionError, match="no function 'explain'.*PREDICT_PROBA"):
        score(hook, model_name="IRIS", function_name="explain", input_table="INPUT", output_table="BAD")
    with pytest.raises(FunctionResolutionError, match="has 4 functions"):
        score(hook, model_name="IRIS", input_table="INPUT", output_table="BAD")
    with pytest.raises(InputValidationError, match="Input table ML.PUBLIC.NOPE does not exist"):
        score(hook, model_name="IRIS", function_name="PREDICT", input_table="NOPE", output_table="BAD")
    with pytest.raises(InputValidationError, match="input_query cannot run"):
        score(
            hook,
            model_name="IRIS",
            function_name="PREDICT",
            input_query="SELECT * FROM NOPE",
            output_table="BAD",
        )


def test_nullable_features_reach_the_model_as_pandas_nullable_types(
    hook: SnowflakeBatchInferenceHook, workspace: LocalWorkspace
) -> None:
    """A NULL in a nullable INT64 feature is pd.NA in an Int64 column, as snowflake-ml hands it in Snowflake
    (a numpy int64 cast would fail with IntCastingNaNError)."""
    from local_models import NullAware

    sample = pd.DataFrame({"COUNT": pd.array([1, None], dtype="Int64")})
    workspace.log_model(NullAware(), model_name="NULL_AWARE", version_name="V1", sample_input_data=sample)
    workspace.write_table(
        "COUNTS", pd.DataFrame({"ID": [1, 2, 3], "COUNT": pd.array([5, None, 7], dtype="Int64")})
    )
    score(hook, model_name="NULL_AWARE", input_table="COUNTS", output_table="SEEN")
    seen = workspace.sql("SELECT ID, MISSING, DTYPE FROM SEEN ORDER BY ID")
    assert seen["MISSING"].tolist() == [False, True, False]
    assert set(seen["DTYPE"]) == {"Int64"}


@pytest.mark.parametrize("nullable", [True, False])
def test_input_dtypes_are_snowflake_mls_own(nullable: bool) -> None:
    """The local scorer casts each feature as snowflake-ml's inference code does (FeatureSpec.as_dtype),
    except BYTES, kept as Python bytes on purpose (numpy's bytes dtype drops trailing NULs)."""
    from snowflake.ml.model.model_signature import DataType, FeatureSpec

    from airflow_snowflake_batch.backends.local.scoring import input_dtype

    for data_type in DataType:
        if data_type is DataType.BYTES:
            continue
        theirs = FeatureSpec("X", data_type, nullable=nullable).as_dtype()
        ours = input_dtype({"name": "X", "type": data_type.name, "nullable": nullable})
        assert pd.api.types.pandas_dtype(ours) == pd.api.types.pandas_dtype(theirs), data_type


def test_given_params_are_cast_to_their_type_defaults_arrive_as_declared(
    hook: SnowflakeBatchInferenceHook, workspace: LocalWorkspace, rows: pd.DataFrame
) -> None:
    """As snowflake-ml's inference code does: an int given for a DOUBLE param reaches the model as
    np.float64; the declared default (a Python float) is passed unchanged."""
    from local_models import ParamTyper

    workspace.log_model(
        ParamTyper(), model_name="TYPER", version_name="V1", sample_input_data=rows[FEATURES].head(10)
    )
    score(hook, model_name="TYPER", input_table="INPUT", output_table="GIVEN", params={"FACTOR": 10})
    score(hook, model_name="TYPER", input_table="INPUT", output_table="DEFAULT")
    assert set(workspace.read_table("GIVEN")["PARAM_TYPE"]) == {"float64"}
    assert set(workspace.read_table("DEFAULT")["PARAM_TYPE"]) == {"float"}


@pytest.mark.parametrize(
    ("feature_type", "values", "arrow_type"),
    [
        ("DOUBLE", [1.5, None, float("nan"), -2.0], "float64"),
        ("FLOAT", [1.5, None, 3.25], "float32"),
        ("DOUBLE", [1, None, 3], "int64"),  # an integer column feeding a DOUBLE feature
        ("INT64", [5, None, 7], "int64"),
        ("INT32", [5.0, None, 7.0], "float64"),  # whole floats into an integer feature
        ("INT8", [1, None, -3], "int64"),
        ("BOOL", [True, None, False], "bool_"),
    ],
)
def test_arrow_built_features_equal_pandas_astype(
    feature_type: str, values: list[Any], arrow_type: str
) -> None:
    """typed_column builds the column Arrow-side; the model must see exactly what ``astype`` gave it."""
    import pyarrow as pa

    from airflow_snowflake_batch.backends.local.scoring import input_dtype, typed_column

    feature = {"name": "X", "type": feature_type}
    column = pa.array(values, type=getattr(pa, arrow_type)())
    ours = typed_column(column, feature)
    assert ours is not None
    theirs = pd.Series(column.to_pandas().to_numpy()).astype(input_dtype(feature))
    pd.testing.assert_series_equal(ours, theirs, check_names=False)


def test_values_arrow_cannot_cast_safely_take_the_astype_path() -> None:
    """1.5 into an integer feature is left to ``astype``, whose error users saw before."""
    import pyarrow as pa

    from airflow_snowflake_batch.backends.local.scoring import typed_column

    assert typed_column(pa.array([1.5, None]), {"name": "X", "type": "INT64"}) is None
    assert typed_column(pa.array(["a"]), {"name": "X", "type": "STRING"}) is None
    assert typed_column(pa.array([1.0]), {"name": "X", "type": "DOUBLE", "nullable": False}) is None


def test_two_records_of_one_partition_vouch_for_nothing_so_the_run_scores_again(
    hook: SnowflakeBatchInferenceHook, workspace: LocalWorkspace
) -> None:
    """A retried INSERT of a record (or two racing writers) leaves two rows: neither may stand for the scores."""
    arguments: dict[str, Any] = {
        "model_name": "IRIS",
        "version_name": None,
        "function_name": "predict_proba",
        "source": hook.input_source(input_table="INPUT", input_query=None),
        "output_table": "PREDS",
        "output_partition": {"DS": "2024-06-01"},
    }
    assert hook.run_warehouse_scoring(**arguments).reused is False
    assert hook.run_warehouse_scoring(**arguments).reused is True  # one record: the rerun reuses
    workspace.sql("INSERT INTO ML.PUBLIC.AIRFLOW_SCORING_RUNS SELECT * FROM ML.PUBLIC.AIRFLOW_SCORING_RUNS")

    again = hook.run_warehouse_scoring(**arguments)

    assert again.reused is False and "no record" in again.reason
    records = workspace.sql("SELECT COUNT(*) AS N FROM ML.PUBLIC.AIRFLOW_SCORING_RUNS")
    assert records["N"].tolist() == [1]  # the write replaced both by its own
