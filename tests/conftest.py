"""Test-wide settings: an isolated AIRFLOW_HOME, set before anything imports Airflow."""

from __future__ import annotations

import os
import tempfile

_home = tempfile.mkdtemp(prefix="airflow-snowflake-batch-tests-")
os.environ.setdefault("AIRFLOW_HOME", _home)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")

# The emulated Snowflake account's fixtures (tests/emulator/fixtures.py); they import lazily.
from emulator.fixtures import emulated_account, emulated_conn_id, emulated_schema  # noqa: E402, F401
