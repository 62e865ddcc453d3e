"""pytest fixtures of the emulated account (registered as a plugin by ``tests/conftest.py``).

- ``emulated_account``: one account per test session (the server and fakesnow's engine are shared;
  each test makes its own schema through ``emulated_schema``).
- ``emulated_schema``: a fresh ``DB.SC_<n>`` with an internal output stage ``OUT``.
- ``emulated_conn_id``: an Airflow ``snowflake`` connection (``AIRFLOW_CONN_...``) pointing at the
  account, so the real ``SnowflakeHook.get_snowpark_session`` connects to it.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from emulator.account import EmulatedAccount

EMULATED_CONN_ID = "emulated_snowflake"
_schemas = itertools.count(1)


@pytest.fixture(scope="session")
def emulated_account() -> Iterator[EmulatedAccount]:
    # The connector speaks https unless told otherwise, and SnowflakeHook passes no protocol:
    # the emulated account serves plain http on loopback.
    from snowflake.connector import connection

    from emulator.account import emulated_account as _emulated_account

    saved = connection.DEFAULT_CONFIGURATION["protocol"]
    connection.DEFAULT_CONFIGURATION["protocol"] = ("http", str)
    try:
        with _emulated_account() as account:
            yield account
    finally:
        connection.DEFAULT_CONFIGURATION["protocol"] = saved


@pytest.fixture
def emulated_schema(emulated_account: EmulatedAccount) -> tuple[str, str]:
    """A new schema (``DB``, ``SC_<n>``) with an internal SSE stage ``OUT``."""
    schema = f"SC_{next(_schemas)}"
    emulated_account.create_stage(f"DB.{schema}.OUT")
    return "DB", schema


def connection_json(account: EmulatedAccount, database: str, schema: str) -> str:
    """An Airflow ``snowflake`` connection (JSON, for ``AIRFLOW_CONN_...``) to the account."""
    kwargs: dict[str, Any] = account.connect_kwargs
    return json.dumps(
        {
            "conn_type": "snowflake",
            "login": kwargs["user"],
            "password": kwargs["password"],
            "schema": schema,
            "extra": {
                "account": kwargs["account"],
                "database": database,
                "warehouse": "EMULATED_WH",
                "host": kwargs["host"],
                "port": kwargs["port"],
                "session_parameters": kwargs["session_parameters"],
            },
        }
    )


@pytest.fixture
def emulated_conn_id(
    emulated_account: EmulatedAccount, emulated_schema: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> str:
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{EMULATED_CONN_ID.upper()}", connection_json(emulated_account, *emulated_schema)
    )
    return EMULATED_CONN_ID
