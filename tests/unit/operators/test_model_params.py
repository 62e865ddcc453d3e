"""``model_params`` go to the model, ``params`` stay Airflow's: a real ``dag.test()`` on a local workspace.

Warehouse inference runs in this process on the local backend (DuckDB), so no job process starts.
"""

# No ``from __future__ import annotations``: snowflake-ml reads the model's annotations as types.
import importlib.util
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from e2e.repo import serialize_dag_file
from operator_support import make_context
from snowflake.ml.model import custom_model

DAG_FILE = Path(__file__).with_name("model_params_dag.py")
SEPALS = [1.0, 2.5, 4.0]


class Scaler(custom_model.CustomModel):
    """Multiplies SEPAL_LENGTH by its ``factor`` inference parameter (default 2)."""

    @custom_model.inference_api
    def predict(self, X: pd.DataFrame, *, factor: float = 2.0) -> pd.DataFrame:
        return pd.DataFrame({"SCALED": X["SEPAL_LENGTH"] * factor})


@pytest.fixture(scope="module")
def dag_module(airflow_db: None) -> Any:
    from airflow.configuration import conf

    dags_folder = Path(conf.get("core", "dags_folder"))
    dags_folder.mkdir(parents=True, exist_ok=True)
    target = dags_folder / DAG_FILE.name
    shutil.copy(DAG_FILE, target)
    serialize_dag_file(target)
    spec = importlib.util.spec_from_file_location("model_params_dag_under_test", target)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dag_module: Any) -> Any:
    from airflow_snowflake_batch.local.workspace import LocalWorkspace

    ws = LocalWorkspace(tmp_path / "ws")
    features = pd.DataFrame({"SEPAL_LENGTH": SEPALS})
    ws.write_table("FEATURES", features)
    ws.log_model(Scaler(), model_name="SCALER", version_name="V1", sample_input_data=features)
    monkeypatch.setenv(f"AIRFLOW_CONN_{dag_module.CONN_ID.upper()}", ws.connection_uri())
    return ws


def scaled(ws: Any, table: str) -> list[float]:
    return sorted(ws.read_table(table)["SCALED"].tolist())


def test_dag_param_and_model_param_of_the_same_name_are_honoured_separately(dag_module, workspace):
    dag_run = dag_module.dag.test(run_conf={"factor": 7.0})  # the DAG Param, chosen at trigger time

    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert states == {"fixed": "success", "chosen": "success", "defaults": "success", "old_style": "failed"}
    fixed = workspace.read_table("FIXED")
    # The model got its own factor; the DAG's factor went where the template put it.
    assert sorted(fixed["SCALED"].tolist()) == [3.0 * s for s in SEPALS]
    assert set(fixed["DAG_FACTOR"]) == {7.0}
    # model_params rendered from the DAG Param: the trigger-time value reached the model.
    assert scaled(workspace, "CHOSEN") == [7.0 * s for s in SEPALS]
    assert scaled(workspace, "DEFAULTS") == [2.0 * s for s in SEPALS]


def test_params_naming_a_model_parameter_without_model_params_fail_before_writing(dag_module, workspace):
    task = dag_module.dag.get_task("old_style")
    assert task.model_params is None

    with pytest.raises(ValueError, match=r"params \['factor'\] name parameters of model function PREDICT"):
        task.execute(make_context())
    with pytest.raises(Exception, match="OLD_STYLE"):
        workspace.read_table("OLD_STYLE")
