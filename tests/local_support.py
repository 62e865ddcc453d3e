"""Helpers and fixtures of the local backend tests (``tests/unit/local``, ``tests/e2e/local_jobs``, and
``tests/security``): a real workspace, real models, the real hook on top.

The fixtures are imported by name into those folders' ``conftest.py``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psutil
import pytest

from airflow_snowflake_batch.hooks.batch_inference import JobStart, SnowflakeBatchInferenceHook
from airflow_snowflake_batch.job_status import JobState
from airflow_snowflake_batch.local import LocalWorkspace

CONN_ID = "snowflake_local_test"
FEATURES = ["SEPAL_LENGTH", "SEPAL_WIDTH", "PETAL_LENGTH"]


def make_rows(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({name: rng.normal(size=n).round(4) for name in FEATURES})
    frame.insert(0, "ID", np.arange(n, dtype="int64"))
    frame["DAY"] = np.where(frame["ID"] % 2 == 0, "2024-01-01", "2024-01-02")
    return frame


def labels(frame: pd.DataFrame) -> np.ndarray:
    return (frame["SEPAL_LENGTH"] + frame["PETAL_LENGTH"] > 0).astype(int).to_numpy()


def wait_until(predicate: Callable[[], Any], *, timeout: float = 60.0, what: str = "condition") -> Any:
    """Poll until ``predicate()`` is truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"Timed out after {timeout}s waiting for {what}.")


def wait_terminal(hook: SnowflakeBatchInferenceHook, job_id: str, timeout: float = 90.0) -> JobState:
    return wait_until(
        lambda: (s := hook.get_job_state(job_id)).status.is_terminal and s,
        timeout=timeout,
        what=f"{job_id} to end",
    )


def job_processes(job_name: str) -> list[psutil.Process]:
    """Processes running the local job runner for ``job_name`` (matched on their command line)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "airflow_snowflake_batch.backends.local.job_runner" in cmdline and any(
            a.endswith(f"/{job_name}") for a in cmdline
        ):
            found.append(process)
    return found


def submit(hook: SnowflakeBatchInferenceHook, job_name: str, try_number: int = 1, **options: Any) -> JobStart:
    source = hook.input_source(
        input_table=options.pop(
            "input_table", None if "input_query" in options or "input_stage_location" in options else "INPUT"
        ),
        input_query=options.pop("input_query", None),
        input_stage_location=options.pop("input_stage_location", None),
    )
    spec = hook.build_batch_job_spec(
        model_name=options.pop("model_name", "IRIS"),
        version_name=options.pop("version_name", None),
        function_name=options.pop("function_name", "PREDICT"),
        source=source,
        compute_pool="POOL",
        output_stage_location=options.pop("output_stage_location", "@OUT/preds"),
        job_name=job_name,
        **options,
    )
    return hook.start_batch_job(spec, try_number=try_number)


# -- fixtures ------------------------------------------------------------------------------------------


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
