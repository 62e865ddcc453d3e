"""Builders of the Snowflake-path doubles, shared by the hook, backend and operator tests.

A plain module (not a conftest), so tests import from it unambiguously; the fixtures built on it are
in ``tests/unit/conftest.py``. Every statement the backend sends goes through ``session.sql``;
:class:`SqlLog` records it, parses it with sqlglot (a parse error fails the test) and answers with the
rows a test registered for it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import sqlglot
from sqlglot import exp

CONN_ID = "sf_test"
CONN = {
    "conn_type": "snowflake",
    "login": "scorer",
    "password": "secret",
    "schema": "SC",
    "extra": {"account": "acme-test", "database": "DB", "warehouse": "WH", "role": "ML"},
}


def parse_sql(text: str) -> exp.Expression:
    """Parse one Snowflake statement; sqlglot raises ParseError on invalid SQL, failing the test.

    sqlglot has no grammar for the SPCS statements ``DESCRIBE SERVICE`` and ``CALL <job>!<method>()``;
    they are checked on the emulated account (tests/emulator) instead.
    """
    if re.match(r"(DESCRIBE SERVICE|CALL \S+!\w+\(\))", text):
        return exp.Command(this=text)
    return sqlglot.parse_one(text, read="snowflake")


@dataclass
class Sent:
    sql: str
    params: list[Any] | None
    tree: exp.Expression


Answer = list[Any] | Exception | Callable[[str, Any], Any]


@dataclass
class SqlLog:
    """Records and answers ``session.sql`` calls. Answers are (regex, rows | exception | DataFrame)."""

    dataframe_factory: Callable[[], Any]
    sent: list[Sent] = field(default_factory=list)
    answers: list[tuple[re.Pattern[str], Answer]] = field(default_factory=list)

    def answer(self, pattern: str, result: Answer) -> None:
        # Later registrations win, so a test can override a default answer.
        self.answers.insert(0, (re.compile(pattern, re.IGNORECASE | re.DOTALL), result))

    def __call__(self, query: str, params: Any = None, **_: Any) -> Any:
        self.sent.append(Sent(query, params, parse_sql(query)))
        result: Answer = []
        for pattern, candidate in self.answers:
            if pattern.search(query):
                result = candidate
                break
        if callable(result) and not isinstance(result, mock.NonCallableMock):
            result = result(query, params)
        if isinstance(result, mock.NonCallableMock):
            return result
        df = self.dataframe_factory()
        if isinstance(result, Exception):
            df.collect.side_effect = result
        else:
            df.collect.return_value = result
        return df

    def matching(self, pattern: str) -> list[Sent]:
        regex = re.compile(pattern, re.IGNORECASE | re.DOTALL)
        return [s for s in self.sent if regex.search(s.sql)]

    def one(self, pattern: str) -> Sent:
        found = self.matching(pattern)
        assert len(found) == 1, f"expected one statement like {pattern!r}, got {[s.sql for s in self.sent]}"
        return found[0]

    @property
    def texts(self) -> list[str]:
        return [s.sql for s in self.sent]


def predict_function(
    name: str = "PREDICT",
    target_method: str = "predict",
    inputs: list[Any] | None = None,
    outputs: list[Any] | None = None,
    params: list[Any] | None = None,
    function_type: str = "FUNCTION",
) -> dict[str, Any]:
    """A ``show_functions()`` entry with a real ``ModelSignature``."""
    from snowflake.ml.model import model_signature as ms

    signature = ms.ModelSignature(
        inputs=inputs
        if inputs is not None
        else [
            ms.FeatureSpec("sepal_length", ms.DataType.DOUBLE),
            ms.FeatureSpec("SPECIES_CODE", ms.DataType.INT64),
        ],
        outputs=outputs if outputs is not None else [ms.FeatureSpec("output_feature_0", ms.DataType.DOUBLE)],
        params=params,
    )
    return {
        "name": name,
        "target_method": target_method,
        "target_method_function_type": function_type,
        "signature": signature,
        "is_partitioned": False,
    }


def route_job_statements(sql_log: SqlLog, lookup: Callable[[str], Any]) -> Any:
    """Answer the backend's job SQL from ``MLJob`` doubles: ``lookup(job_id)`` returns one or raises 2003.

    ``DESCRIBE SERVICE`` reads the double's ``status``; ``CALL <job>!SPCS_CANCEL_JOB()`` calls its
    ``cancel()``. Returns a patcher of ``snowflake.ml.jobs.MLJob`` (the backend's handle for logs) that
    hands out the same doubles; use it as a context manager.
    """
    from snowflake.snowpark import Row

    def describe(query: str, _: Any) -> list[Any]:
        return [Row(status=lookup(query.split("DESCRIBE SERVICE ", 1)[1].strip()).status)]

    def cancel(query: str, _: Any) -> list[Any]:
        lookup(query.split("CALL ", 1)[1].split("!", 1)[0]).cancel()
        return [Row(status="cancelled")]

    sql_log.answer(r"^DESCRIBE SERVICE ", describe)
    sql_log.answer(r"^CALL \S+!SPCS_CANCEL_JOB\(\)", cancel)
    return mock.patch("snowflake.ml.jobs.MLJob", side_effect=lambda job_id, session=None: lookup(job_id))


def session_tag(task_tag: dict[str, str]) -> dict[str, str]:
    """The one ``update_query_tag`` a session gets: the Airflow and Snowflake provider versions (as
    ``SnowflakeHook.get_snowpark_session`` adds) and the task's dag, task and run."""
    from airflow import __version__ as airflow_version
    from airflow.providers.snowflake import __version__ as provider_version

    return {"airflow_version": airflow_version, "airflow_provider_version": provider_version, **task_tag}
