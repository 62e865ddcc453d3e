"""Fixtures of the tests here that run the operators with ``dag.test()`` on a local workspace."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A fresh metadata database in the tests' AIRFLOW_HOME (tests/conftest.py), for ``dag.test()``."""
    from airflow.utils import db

    db.resetdb()
