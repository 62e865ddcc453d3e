"""The warehouse and load operators' asset events, from a ``dag.test()`` run on a real local workspace."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from .repo import serialize_dag_file

DAG_FILE = Path(__file__).with_name("asset_scoring_dag.py")


@pytest.fixture
def dag_module(airflow_db: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    from airflow.configuration import conf

    from airflow_snowflake_batch.local import LocalWorkspace

    target = Path(conf.get("core", "dags_folder")) / DAG_FILE.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(DAG_FILE, target)
    serialize_dag_file(target)
    spec = importlib.util.spec_from_file_location("asset_scoring_dag_under_test", target)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    ws = LocalWorkspace(tmp_path / "ws")
    rng = np.random.default_rng(5)
    features = pd.DataFrame({"F1": rng.normal(size=20), "F2": rng.normal(size=20)})
    ws.write_table("FEATURES", features)
    ws.create_stage("OUT")
    ws.log_model(
        LinearRegression().fit(features, features.F1),
        model_name="REG",
        version_name="V1",
        sample_input_data=features,
    )
    monkeypatch.setenv(f"AIRFLOW_CONN_{module.CONN_ID.upper()}", ws.connection_uri())
    return module


def asset_events(dag_run: Any) -> dict[str, list[dict[str, Any]]]:
    """The asset events a run emitted, by asset URI, with their extra."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(AssetModel.uri, AssetEvent.extra, AssetEvent.source_task_id)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetEvent.source_run_id == dag_run.run_id, AssetEvent.source_dag_id == dag_run.dag_id)
        ).all()
    events: dict[str, list[dict[str, Any]]] = {}
    for uri, extra, task_id in rows:
        events.setdefault(uri, []).append({"task_id": task_id, **extra})
    return events


def test_warehouse_and_load_tasks_emit_events_with_partition_and_model(dag_module: Any) -> None:
    dag_run = dag_module.dag.test(logical_date=pd.Timestamp("2026-03-04", tz="UTC").to_pydatetime())
    assert {ti.task_id: ti.state for ti in dag_run.get_task_instances()} == dict.fromkeys(
        ["warehouse", "batch", "load"], "success"
    )
    events = asset_events(dag_run)
    assert events["snowflake://local/ML/PUBLIC/WAREHOUSE_SCORES"] == [
        {
            "task_id": "warehouse",
            "table": "ML.PUBLIC.WAREHOUSE_SCORES",
            "rows": 20,
            "partition": {"SCORE_DATE": "2026-03-04"},
            "model": "ML.PUBLIC.REG",
            "model_version": "V1",
            "reused": False,  # a first run scores (rescore="if_changed" had no record to reuse)
        }
    ]
    (load,) = events["snowflake://local/ML/PUBLIC/BATCH_SCORES"]
    assert load["task_id"] == "load" and load["rows"] == 20
    assert load["partition"] == {"SCORE_DATE": "2026-03-04"}
    assert load["source"].startswith("@ML.PUBLIC.OUT/preds/AIRFLOW_BATCH_")
