"""The examples in docstrings are part of the documentation: they must stay true, in every module."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import airflow_snowflake_batch

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(airflow_snowflake_batch.__path__, f"{airflow_snowflake_batch.__name__}.")
)
# Modules whose examples document them: losing all of them is a mistake, not a refactoring.
WITH_EXAMPLES = {
    "airflow_snowflake_batch.identifiers",
    "airflow_snowflake_batch.backends.snowflake_sql",
    "airflow_snowflake_batch.backends.snowflake",
    "airflow_snowflake_batch.utils.lineage",
    "airflow_snowflake_batch.inference.inputs",
    "airflow_snowflake_batch.inference.jobs",
    "airflow_snowflake_batch.inference.results",
    "airflow_snowflake_batch.inference.retention",
    "airflow_snowflake_batch.backends.base",
}


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module))
    assert result.failed == 0
    if module in WITH_EXAMPLES:
        assert result.attempted > 0, f"{module} has no examples left to check"


def test_every_module_is_checked() -> None:
    assert set(MODULES) >= WITH_EXAMPLES
    assert "airflow_snowflake_batch.hooks.batch_inference" in MODULES
