"""The examples in docstrings are part of the documentation: they must stay true."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize(
    "module",
    [
        "airflow_snowflake_batch.identifiers",
        "airflow_snowflake_batch.backends.snowflake_sql",
        "airflow_snowflake_batch.backends.snowflake",
        "airflow_snowflake_batch.utils.lineage",
        "airflow_snowflake_batch.backends.base",
        "airflow_snowflake_batch.input_checks",
    ],
)
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0, f"{module} has no examples left to check"
    assert result.failed == 0
