"""LocalWorkspace: tables, stages, the registry, and the connection the hook reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from local_support import CONN_ID, FEATURES

from airflow_snowflake_batch.backends.base import InputSource
from airflow_snowflake_batch.backends.local.backend import LocalBackend
from airflow_snowflake_batch.exceptions import InputValidationError, ModelNotFoundError, WorkspacePathError
from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook
from airflow_snowflake_batch.identifiers import ObjectName, StageLocation
from airflow_snowflake_batch.inference import signature
from airflow_snowflake_batch.local import LocalWorkspace

# -- tables ----------------------------------------------------------------------------------------


def test_three_part_query_runs_unchanged(workspace: LocalWorkspace, rows: pd.DataFrame) -> None:
    query = "SELECT ID, SEPAL_LENGTH FROM ML.PUBLIC.INPUT WHERE DAY = '2024-01-02' ORDER BY ID"
    result = workspace.sql(query)
    expected = rows[rows["DAY"] == "2024-01-02"][["ID", "SEPAL_LENGTH"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(result, expected, check_dtype=False)


def test_tables_in_other_databases_and_schemas(workspace: LocalWorkspace) -> None:
    workspace.write_table("OTHER_DB.RAW.EVENTS", pd.DataFrame({"X": [1, 2]}))
    workspace.write_table("OTHER_DB.RAW.EVENTS", pd.DataFrame({"X": [3]}), mode="append")
    joined = workspace.sql(
        "SELECT count(*) AS N FROM OTHER_DB.RAW.EVENTS e JOIN ML.PUBLIC.INPUT i ON i.ID = e.X"
    )
    assert joined["N"].tolist() == [3]
    assert workspace.table_exists("other_db.raw.events")
    assert not workspace.table_exists("OTHER_DB.RAW.MISSING")


def test_write_overwrite_replaces_rows(workspace: LocalWorkspace) -> None:
    workspace.write_table("T", pd.DataFrame({"A": [1, 2, 3]}))
    workspace.write_table("T", pd.DataFrame({"A": [9]}), mode="overwrite")
    assert workspace.read_table("ML.PUBLIC.T")["A"].tolist() == [9]


def test_connection_uri_is_airflow_json_form(workspace: LocalWorkspace) -> None:
    value = json.loads(workspace.connection_uri())
    assert value == {
        "conn_type": "snowflake_batch_local",
        "extra": {"workspace": str(workspace.root), "database": "ML", "schema": "PUBLIC"},
    }


def test_hook_uses_workspace_and_overrides_win(
    workspace: LocalWorkspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook

    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", workspace.connection_uri())
    with SnowflakeBatchInferenceHook(CONN_ID, database="other", schema="raw") as hook:
        backend = hook.backend
        assert isinstance(backend, LocalBackend)
        assert (backend.default_database.value, backend.default_schema.value) == ("OTHER", "RAW")
        assert hook.qualify("T", what="table").sql == "OTHER.RAW.T"
    with SnowflakeBatchInferenceHook(CONN_ID) as hook:
        assert hook.qualify("T", what="table").sql == "ML.PUBLIC.T"


def test_test_connection_checks_the_workspace_folder(
    hook: SnowflakeBatchInferenceHook,
    workspace: LocalWorkspace,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
) -> None:
    assert hook.test_connection() == (True, "Local workspace is ready (default namespace: ML.PUBLIC).")
    missing = json.loads(workspace.connection_uri())
    missing["extra"]["workspace"] = str(tmp_path / "nowhere")
    monkeypatch.setenv("AIRFLOW_CONN_MISSING_WS", json.dumps(missing))
    ok, message = SnowflakeBatchInferenceHook("missing_ws").test_connection()
    assert not ok and "nowhere" in message


def test_describe_input_reports_duckdb_types_the_validator_understands(workspace: LocalWorkspace) -> None:
    workspace.sql(
        "CREATE TABLE ML.PUBLIC.TYPED AS SELECT 1::BIGINT AS I, 1.5::DOUBLE AS F, 'a' AS S, true AS B, "
        "'x'::BLOB AS BIN, TIMESTAMP '2024-01-01 00:00:00' AS TS, 1.25::DECIMAL(18,3) AS D, 7::DECIMAL(18,0) AS D0, "
        "1::UTINYINT AS U"
    )
    backend = LocalBackend(workspace.root)
    columns = backend.describe_input(InputSource(table=ObjectName.parse("ML.PUBLIC.TYPED")))
    families = {c.name: (c.sql_type, signature.sql_type_family(c.sql_type)) for c in columns}
    assert families == {
        "I": ("BIGINT", "integer"),
        "F": ("DOUBLE", "float"),
        "S": ("VARCHAR", "string"),
        "B": ("BOOLEAN", "boolean"),
        "BIN": ("BLOB", "binary"),
        "TS": ("TIMESTAMP", "timestamp"),
        "D": ("DECIMAL(18,3)", "float"),
        "D0": ("DECIMAL(18,0)", "integer"),
        "U": ("UTINYINT", "integer"),
    }
    query_columns = backend.describe_input(InputSource(query="SELECT I + 1 AS J, S FROM TYPED"))
    assert [(c.name, c.sql_type) for c in query_columns] == [("J", "BIGINT"), ("S", "VARCHAR")]


def test_duckdb_list_types_are_semi_structured() -> None:
    assert signature.sql_type_family("INTEGER[]") == "semi-structured"


# -- stages ----------------------------------------------------------------------------------------


def test_stage_files_put_list_and_describe(workspace: LocalWorkspace, tmp_path: Any) -> None:
    workspace.create_stage("IMAGES", encryption="SNOWFLAKE_FULL")
    (tmp_path / "cat.jpeg").write_bytes(b"\xff\xd8cat")
    path = workspace.put(tmp_path / "cat.jpeg", "@images/pets/")
    assert path == "@ML.PUBLIC.IMAGES/pets/cat.jpeg"
    assert workspace.list_files("@ML.PUBLIC.IMAGES") == ["pets/cat.jpeg"]
    assert workspace.list_files("@IMAGES/pets") == ["cat.jpeg"]
    assert workspace.list_files("@IMAGES/none/") == []

    backend = LocalBackend(workspace.root)
    info = backend.describe_stage(ObjectName.parse("ML.PUBLIC.IMAGES"))
    assert (info.is_internal, info.encryption) == (True, "SNOWFLAKE_FULL")
    workspace.create_stage("LAKE", external=True)
    lake = backend.describe_stage(ObjectName.parse("ML.PUBLIC.LAKE"))
    assert (lake.is_internal, lake.encryption) == (False, None)
    assert backend.describe_stage(ObjectName.parse("ML.PUBLIC.NOPE")) is None

    backend.remove_files(StageLocation.parse("@ML.PUBLIC.IMAGES/pets/"))
    assert workspace.list_files("@IMAGES") == []


def test_create_stage_rejects_unknown_encryption(workspace: LocalWorkspace) -> None:
    with pytest.raises(ValueError, match="SNOWFLAKE_SSE, SNOWFLAKE_FULL"):
        workspace.create_stage("S", encryption="AWS_SSE_KMS")


# -- registry --------------------------------------------------------------------------------------


def test_sklearn_functions_default_like_snowflake_ml(workspace: LocalWorkspace, rows: pd.DataFrame) -> None:
    version = workspace.get_model_version("IRIS")
    assert [f.name for f in version.functions] == [
        "PREDICT",
        "PREDICT_PROBA",
        "PREDICT_LOG_PROBA",
        "DECISION_FUNCTION",
    ]
    proba = next(f for f in version.functions if f.name == "PREDICT_PROBA")
    assert proba.target_method == "predict_proba"
    assert [i.name for i in proba.inputs] == FEATURES
    assert [(o.name, o.dtype) for o in proba.outputs] == [
        ("output_feature_0", "DOUBLE"),
        ("output_feature_1", "DOUBLE"),
    ]


def test_xgboost_functions_and_explicit_target_methods(
    workspace: LocalWorkspace, xgb_model: Any, rows: pd.DataFrame
) -> None:
    xgb = workspace.log_model(
        xgb_model, model_name="XGB", version_name="V1", sample_input_data=rows[FEATURES].head(100)
    )
    assert [f.name for f in xgb.functions] == ["PREDICT", "PREDICT_PROBA"]
    only = workspace.log_model(
        xgb_model,
        model_name="XGB",
        version_name="V2",
        sample_input_data=rows[FEATURES],
        options={"target_methods": ["predict_proba"]},
        pip_requirements=["xgboost"],
    )
    assert [f.name for f in only.functions] == ["PREDICT_PROBA"]


def test_lightgbm_functions(workspace: LocalWorkspace, rows: pd.DataFrame) -> None:
    from lightgbm import LGBMClassifier
    from local_support import labels

    model = LGBMClassifier(n_estimators=5, verbose=-1).fit(rows[FEATURES], labels(rows))
    version = workspace.log_model(
        model, model_name="LGBM", version_name="V1", sample_input_data=rows[FEATURES].head(50)
    )
    assert [(f.name, len(f.outputs)) for f in version.functions] == [("PREDICT", 1), ("PREDICT_PROBA", 2)]


def test_numpy_sample_gives_input_feature_names(
    workspace: LocalWorkspace, sk_model: Any, rows: pd.DataFrame
) -> None:
    from sklearn.linear_model import LinearRegression

    model = LinearRegression().fit(rows[FEATURES].to_numpy(), rows["SEPAL_WIDTH"].to_numpy())
    version = workspace.log_model(
        model, model_name="REG", version_name="V1", sample_input_data=rows[FEATURES].to_numpy()
    )
    assert [i.name for i in version.functions[0].inputs] == [
        "input_feature_0",
        "input_feature_1",
        "input_feature_2",
    ]


def test_given_signatures_are_kept(workspace: LocalWorkspace, sk_model: Any) -> None:
    from snowflake.ml.model import model_signature as ms

    signature = ms.ModelSignature(
        inputs=[ms.FeatureSpec(name=n, dtype=ms.DataType.DOUBLE) for n in FEATURES],
        outputs=[ms.FeatureSpec(name="LABEL", dtype=ms.DataType.INT64)],
    )
    version = workspace.log_model(
        sk_model, model_name="SIG", version_name="V1", signatures={"predict": signature}
    )
    assert [(f.name, [o.name for o in f.outputs]) for f in version.functions] == [("PREDICT", ["LABEL"])]


def test_log_model_needs_a_signature_source(workspace: LocalWorkspace, sk_model: Any) -> None:
    with pytest.raises(ValueError, match="signatures or sample_input_data"):
        workspace.log_model(sk_model, model_name="NOPE", version_name="V1")
    with pytest.raises(TypeError, match="not supported by the local registry"):
        workspace.log_model(object(), model_name="NOPE", version_name="V1", sample_input_data=[[1.0]])


def test_versions_aliases_and_default(workspace: LocalWorkspace, sk_model: Any, rows: pd.DataFrame) -> None:
    sample = rows[FEATURES].head(100)
    workspace.log_model(sk_model, model_name="IRIS", version_name="v2", sample_input_data=sample)
    workspace.log_model(sk_model, model_name="IRIS", version_name="V3", sample_input_data=sample)

    def resolved(alias: str | None) -> str:
        return workspace.get_model_version("IRIS", alias).version.value

    assert resolved(None) == resolved("DEFAULT") == "V1"  # the first version logged
    assert (resolved("FIRST"), resolved("LAST")) == ("V1", "V3")
    workspace.set_default_version("IRIS", "v2")
    assert resolved(None) == "V2"
    workspace.set_alias("IRIS", "V3", "prod")
    assert resolved("PROD") == resolved('"PROD"') == "V3"
    with pytest.raises(ValueError, match="already names version V3"):
        workspace.set_alias("IRIS", "V1", "PROD")
    workspace.unset_alias("IRIS", "prod")
    with pytest.raises(ModelNotFoundError, match="no version or alias PROD"):
        resolved("PROD")
    with pytest.raises(ValueError, match="already has a version V3"):
        workspace.log_model(sk_model, model_name="IRIS", version_name="V3", sample_input_data=sample)
    with pytest.raises(ModelNotFoundError, match="ML.PUBLIC.MISSING does not exist"):
        workspace.get_model_version("MISSING")


def test_custom_model_params_become_param_specs(workspace: LocalWorkspace, rows: pd.DataFrame) -> None:
    from local_models import Scaler

    version = workspace.log_model(
        Scaler(), model_name="SCALER", version_name="V1", sample_input_data=rows[FEATURES].head(100)
    )
    (function,) = version.functions
    assert (function.name, [o.name for o in function.outputs]) == ("PREDICT", ["SCALED"])
    assert [(p.name, p.dtype, p.default) for p in function.params] == [("factor", "DOUBLE", 2.0)]


def test_a_folder_that_is_not_a_workspace_is_refused_naming_it(tmp_path: Path) -> None:
    """The folder above a workspace (e.g. ./demo-workspace instead of ./demo-workspace/local-snowflake)
    is not turned into a new, empty workspace whose next read fails with DuckDB's catalog error."""
    LocalWorkspace(tmp_path / "local-snowflake")
    (tmp_path / "notes.txt").write_text("not a workspace")

    with pytest.raises(WorkspacePathError, match=rf"{tmp_path} is not a local workspace.*local-snowflake"):
        LocalWorkspace(tmp_path)

    assert sorted(p.name for p in tmp_path.iterdir()) == ["local-snowflake", "notes.txt"]  # nothing created


def test_an_existing_or_empty_workspace_folder_opens(tmp_path: Path) -> None:
    first = LocalWorkspace(tmp_path / "ws")
    first.write_table("T", pd.DataFrame({"A": [1]}))
    (tmp_path / "empty").mkdir()

    assert LocalWorkspace(tmp_path / "ws").read_table("T")["A"].tolist() == [1]
    assert LocalWorkspace(tmp_path / "empty").tables() == []


def test_a_missing_table_is_named_with_the_tables_that_exist(tmp_path: Path) -> None:
    ws = LocalWorkspace(tmp_path / "ws")
    ws.write_table("SCORES", pd.DataFrame({"A": [1]}))
    ws.write_table('OTHER.PUBLIC."lower"', pd.DataFrame({"A": [1]}))

    with pytest.raises(
        InputValidationError,
        match=r'ML\.PUBLIC\.NOPE does not exist.*tables: ML\.PUBLIC\.SCORES, OTHER\.PUBLIC\."lower"\.',
    ):
        ws.read_table("NOPE")
    with pytest.raises(InputValidationError, match=r"(?s)NOPE.*its tables: .*ML\.PUBLIC\.SCORES"):
        ws.sql("SELECT * FROM ML.PUBLIC.NOPE")
