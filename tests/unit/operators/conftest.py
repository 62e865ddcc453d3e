"""Doubles of the task context shared by the operator tests."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from unittest import mock

import pytest


class FakeTaskStateStore:
    """The part of ``TaskStateStoreAccessor`` the operators use, kept in a dict."""

    def __init__(self, values: dict[str, Any] | None = None) -> None:
        self.values = dict(values or {})

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any, **_: Any) -> None:
        self.values[key] = value


def make_context(try_number: int = 1, store: FakeTaskStateStore | None = None) -> dict[str, Any]:
    ti = mock.Mock(
        dag_id="scoring",
        task_id="score",
        run_id="manual__2026-01-01",
        map_index=-1,
        try_number=try_number,
        start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
        stats_tags={},
    )
    return {"ti": ti, "task_state_store": store if store is not None else FakeTaskStateStore()}


@pytest.fixture
def context() -> dict[str, Any]:
    return make_context()


def pushed(context: dict[str, Any]) -> dict[str, Any]:
    """The XComs a test context's task instance pushed, by key."""
    return {c.kwargs["key"]: c.kwargs["value"] for c in context["ti"].xcom_push.call_args_list}


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A fresh metadata database in the tests' AIRFLOW_HOME (tests/conftest.py), for ``dag.test()``."""
    from airflow.utils import db

    db.resetdb()
