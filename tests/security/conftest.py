"""Fixtures of the security tests: both backends, as the unit tests build them.

The Snowflake path runs the real hook and ``SnowflakeBackend`` over the unit tests' doubles (autospecs
of the real Snowpark/snowflake-ml classes and the SQL-recording session, whose every statement is
parsed by sqlglot); the local path runs a real workspace. The unit tests' fixtures are loaded from
``tests/unit/conftest.py`` rather than copied.

Hypothesis runs a modest number of examples per test (CI budget: tests/security in about two
minutes). ``HYPOTHESIS_PROFILE=thorough`` runs many more:

    HYPOTHESIS_PROFILE=thorough .venv/bin/python -m pytest tests/security -q
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

_UNIT = Path(__file__).resolve().parents[1] / "unit"
for folder in (_UNIT, _UNIT / "local", _UNIT / "operators"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))


def _load(name: str, path: Path) -> object:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# The Snowflake-path doubles (session, sql_log, hook, backend, model_registry...) under their own names.
_snowflake = _load("security_snowflake_fixtures", _UNIT / "conftest.py")
session = _snowflake.session  # type: ignore[attr-defined]
sf_classes = _snowflake.sf_classes  # type: ignore[attr-defined]
new_dataframe = _snowflake.new_dataframe  # type: ignore[attr-defined]
sql_log = _snowflake.sql_log  # type: ignore[attr-defined]
conn_env = _snowflake.conn_env  # type: ignore[attr-defined]
snowpark_session_factory = _snowflake.snowpark_session_factory  # type: ignore[attr-defined]
hook = _snowflake.hook  # type: ignore[attr-defined]
backend = _snowflake.backend  # type: ignore[attr-defined]
registry_cls = _snowflake.registry_cls  # type: ignore[attr-defined]
make_model_version = _snowflake.make_model_version  # type: ignore[attr-defined]
model_registry = _snowflake.model_registry  # type: ignore[attr-defined]

# The local workspace (workspace with ML.PUBLIC.INPUT, stage OUT and model IRIS; local_hook on it).
_local = _load("security_local_fixtures", _UNIT / "local" / "conftest.py")
train_rows = _local.train_rows  # type: ignore[attr-defined]
sk_model = _local.sk_model  # type: ignore[attr-defined]
rows = _local.rows  # type: ignore[attr-defined]
workspace = _local.workspace  # type: ignore[attr-defined]
_no_leftover_jobs = _local._no_leftover_jobs  # type: ignore[attr-defined]


@pytest.fixture
def local_hook(workspace: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The real hook on the local workspace (the Snowflake-path ``hook`` fixture keeps its name)."""
    from local_support import CONN_ID

    from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook

    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", workspace.connection_uri())
    with SnowflakeBatchInferenceHook(CONN_ID) as h:
        yield h


settings.register_profile(
    "ci",
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
