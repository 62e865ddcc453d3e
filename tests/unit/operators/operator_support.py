"""Doubles of the task context shared by the operator tests."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from unittest import mock

import airflow
from packaging.version import Version

# Airflow 3.3 brought ResumableJobMixin and the task state store. Below it the compat provider hands out
# a stand-in (``durable=False``) that submits on every try and stores nothing; a retry then re-attaches
# only through the hook's look-up of the deterministic job name.
AIRFLOW_V_3_3_PLUS = Version(Version(airflow.__version__).base_version) >= Version("3.3.0")


class FakeTaskStateStore:
    """The part of ``TaskStateStoreAccessor`` the operators use, kept in a dict."""

    def __init__(self, values: dict[str, Any] | None = None) -> None:
        self.values = dict(values or {})

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any, **_: Any) -> None:
        self.values[key] = value


def stored(job_id: str) -> dict[str, str]:
    """What the task state store holds after a try that ran ``job_id``: its id on 3.3+, nothing below."""
    from airflow_snowflake_batch.operators.batch_job import SnowflakeBatchInferenceOperator

    return {SnowflakeBatchInferenceOperator.external_id_key: job_id} if AIRFLOW_V_3_3_PLUS else {}


def make_task_instance(**fields: Any) -> Any:
    """An autospec of the runtime task instance with ``fields`` set: a field or method the real class
    lacks fails the test instead of answering a Mock."""
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    unknown = set(fields) - set(RuntimeTaskInstance.model_fields) - set(dir(RuntimeTaskInstance))
    assert not unknown, f"RuntimeTaskInstance has no {sorted(unknown)}"
    ti = mock.create_autospec(RuntimeTaskInstance, instance=True)
    for name, value in fields.items():
        setattr(ti, name, value)
    return ti


def make_context(
    try_number: int = 1, store: FakeTaskStateStore | None = None, map_index: int = -1
) -> dict[str, Any]:
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    # Airflow 3.3's ResumableJobMixin reads ti.stats_tags; 3.1's task instance has no such field.
    extra = {"stats_tags": {}} if hasattr(RuntimeTaskInstance, "stats_tags") else {}
    ti = make_task_instance(
        dag_id="scoring",
        task_id="score",
        run_id="manual__2026-01-01",
        map_index=map_index,
        try_number=try_number,
        start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
        **extra,
    )
    return {"ti": ti, "task_state_store": store if store is not None else FakeTaskStateStore()}


def pushed(context: dict[str, Any]) -> dict[str, Any]:
    """The XComs a test context's task instance pushed, by key."""
    return {c.kwargs["key"]: c.kwargs["value"] for c in context["ti"].xcom_push.call_args_list}
