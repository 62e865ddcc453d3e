"""Fixtures of the operator tests: a task context and an Airflow metadata database."""

from __future__ import annotations

from typing import Any

import pytest
from operator_support import make_context


@pytest.fixture
def context() -> dict[str, Any]:
    return make_context()


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A fresh metadata database in the tests' AIRFLOW_HOME (tests/conftest.py), for ``dag.test()``."""
    from airflow.utils import db

    db.resetdb()
