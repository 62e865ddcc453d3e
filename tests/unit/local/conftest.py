"""Fixtures of the local backend tests: a real workspace, real models, the real hook on top.

Everything runs for real: DuckDB files, stage folders, cloudpickled models, detached job processes.
Data stays small so the whole folder runs in about a minute on a loaded 2-core machine.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import psutil
import pytest
from local_support import CONN_ID, FEATURES, labels, make_rows

from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook
from airflow_snowflake_batch.local import LocalWorkspace


@pytest.fixture(scope="session")
def train_rows() -> pd.DataFrame:
    return make_rows(300, seed=1)


@pytest.fixture(scope="session")
def sk_model(train_rows: pd.DataFrame) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression().fit(train_rows[FEATURES], labels(train_rows))


@pytest.fixture(scope="session")
def xgb_model(train_rows: pd.DataFrame) -> Any:
    from xgboost import XGBClassifier

    return XGBClassifier(n_estimators=8, max_depth=3, n_jobs=1).fit(train_rows[FEATURES], labels(train_rows))


@pytest.fixture
def rows() -> pd.DataFrame:
    return make_rows(120)


@pytest.fixture
def workspace(tmp_path: Path, rows: pd.DataFrame, sk_model: Any) -> LocalWorkspace:
    """A workspace with ML.PUBLIC.INPUT, stage OUT and model IRIS (version V1, the sklearn model)."""
    ws = LocalWorkspace(tmp_path / "ws")
    ws.write_table("INPUT", rows)
    ws.create_stage("OUT")
    ws.log_model(sk_model, model_name="IRIS", version_name="V1", sample_input_data=rows[FEATURES].head(100))
    return ws


@pytest.fixture
def hook(workspace: LocalWorkspace, monkeypatch: pytest.MonkeyPatch) -> Iterator[SnowflakeBatchInferenceHook]:
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", workspace.connection_uri())
    with SnowflakeBatchInferenceHook(CONN_ID) as h:
        yield h


@pytest.fixture(autouse=True)
def _no_leftover_jobs(tmp_path: Path) -> Iterator[None]:
    """Kill job processes of this test's workspace that a failing test left behind (and only those)."""
    yield
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "airflow_snowflake_batch.backends.local.job_runner" in cmdline and any(
            str(tmp_path) in a for a in cmdline
        ):
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
