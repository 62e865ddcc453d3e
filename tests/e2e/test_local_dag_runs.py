"""Every operator and the sensor through ``dag.test()`` on a real local workspace (DuckDB, job processes)."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression
from unit.operators.operator_support import AIRFLOW_V_3_3_PLUS

from airflow_snowflake_batch.plugins.urls import job_page_url
from airflow_snowflake_batch.triggers.batch_job import SnowflakeBatchInferenceJobTrigger

from .repo import serialize_dag_file

DAG_FILE = Path(__file__).with_name("local_scoring_dag.py")


@pytest.fixture(scope="module")
def dag_module(airflow_db):
    """The DAG file, placed and serialized in the DAGs folder (where dag.test() wants it), imported from
    there."""
    from airflow.configuration import conf

    dags_folder = Path(conf.get("core", "dags_folder"))
    dags_folder.mkdir(parents=True, exist_ok=True)
    target = dags_folder / DAG_FILE.name
    shutil.copy(DAG_FILE, target)
    serialize_dag_file(target)
    spec = importlib.util.spec_from_file_location("local_scoring_dag_under_test", target)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def workspace(tmp_path, monkeypatch, dag_module):
    from airflow_snowflake_batch.local.workspace import LocalWorkspace

    ws = LocalWorkspace(tmp_path / "ws")
    rng = np.random.default_rng(7)
    features = pd.DataFrame({"F1": rng.normal(size=50), "F2": rng.normal(size=50)})
    model = LinearRegression().fit(features, 3 * features.F1 - features.F2 + rng.normal(scale=0.1, size=50))
    ws.write_table("FEATURES", features)
    ws.create_stage("OUT")
    ws.log_model(model, model_name="REG", version_name="V1", sample_input_data=features)
    monkeypatch.setenv(f"AIRFLOW_CONN_{dag_module.CONN_ID.upper()}", ws.connection_uri())
    return ws, features, model


def prediction_column(frame: pd.DataFrame) -> str:
    (column,) = [c for c in frame.columns if c.upper() == "OUTPUT_FEATURE_0"]
    return column


def assert_scored(table: pd.DataFrame, features: pd.DataFrame, model: LinearRegression) -> None:
    """Each input row is in ``table`` once, next to the model's own prediction for it."""
    assert len(table) == len(features)
    merged = features.merge(table, on=["F1", "F2"], how="left", validate="one_to_one")
    np.testing.assert_allclose(merged[prediction_column(table)], model.predict(features), rtol=1e-9)


def xcoms(dag_run: Any, task_id: str) -> dict[str, Any]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(
            select(XComModel).where(
                XComModel.dag_id == dag_run.dag_id,
                XComModel.run_id == dag_run.run_id,
                XComModel.task_id == task_id,
            )
        ).all()
        return {row.key: XComModel.deserialize_value(row) for row in rows}


def stored_job_ids(dag_run: Any) -> dict[str, Any]:
    """The task state store entries (ResumableJobMixin, Airflow 3.3+) of a run, by task."""
    from airflow.models.task_state_store import TaskStateStoreModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from airflow_snowflake_batch.operators.batch_job import SnowflakeBatchInferenceOperator

    with create_session() as session:
        rows = session.scalars(
            select(TaskStateStoreModel).where(
                TaskStateStoreModel.run_id == dag_run.run_id,
                TaskStateStoreModel.key == SnowflakeBatchInferenceOperator.external_id_key,
            )
        ).all()
        return {row.task_id: json.loads(row.value) for row in rows}


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])
def test_scoring_dag_runs_on_the_local_backend(dag_module, workspace, deferrable):
    ws, features, model = workspace
    dag = dag_module.deferrable_dag if deferrable else dag_module.sync_dag
    run = SnowflakeBatchInferenceJobTrigger.run

    with mock.patch.object(
        SnowflakeBatchInferenceJobTrigger, "run", autospec=True, side_effect=run
    ) as trigger_run:
        dag_run = dag.test()

    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert states == dict.fromkeys(["warehouse", "batch", "load", "submit_only", "watch"], "success")

    warehouse_scores = ws.read_table("WAREHOUSE_SCORES")
    assert set(warehouse_scores["RUN_ID"]) == {dag_run.run_id}
    assert_scored(warehouse_scores.drop(columns="RUN_ID"), features, model)
    assert_scored(ws.read_table("BATCH_SCORES"), features, model)

    batch = xcoms(dag_run, "batch")
    assert batch["return_value"]["status"] == "DONE"
    assert batch["output_location"] == f"@ML.PUBLIC.OUT/preds/{batch['job_name']}/"
    assert batch["job_id"] == f"ML.PUBLIC.{batch['job_name']}"
    # A local job's link is its same-origin page in Airflow (plugins/job_page.py), not a file:// URL.
    assert batch["_link_SnowflakeBatchJobLink"] == job_page_url(
        dag_id=dag_run.dag_id, run_id=dag_run.run_id, task_id="batch"
    )
    assert "_SUCCESS" in ws.list_files(batch["output_location"])
    assert xcoms(dag_run, "warehouse")["rows_written"] == len(features)
    assert xcoms(dag_run, "load")["return_value"] == {
        "target_table": "ML.PUBLIC.BATCH_SCORES",
        "rows_loaded": 50,
    }
    # The sensor watched the job the submit-only task started and left running.
    submitted = xcoms(dag_run, "submit_only")
    assert submitted["status"] in {"PENDING", "RUNNING"}
    assert "_SUCCESS" in ws.list_files(submitted["output_location"])

    # Both paths store the job id for a retry to re-attach to (Airflow 3.3+; older Airflow has no task
    # state store, a retry re-attaches by job name alone).
    if AIRFLOW_V_3_3_PLUS:
        assert stored_job_ids(dag_run) == {"batch": batch["job_id"], "submit_only": submitted["job_id"]}

    # The deferrable batch task waited on the trigger (the sensor too, unless its job had already
    # ended when it first looked); the sync tasks never deferred.
    watched = {call.args[0].job_id for call in trigger_run.call_args_list}
    if deferrable:
        assert batch["job_id"] in watched and watched <= {batch["job_id"], submitted["job_id"]}
    else:
        assert watched == set()
