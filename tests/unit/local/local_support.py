"""Helpers shared by the local backend tests (fixtures are in conftest.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import psutil

from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook
from airflow_snowflake_batch.job_status import JobState

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
