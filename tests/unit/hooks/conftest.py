"""Doubles for the Snowflake path: autospecs of the real Snowpark/snowflake-ml classes, and a SQL log.

Every statement the backend sends goes through ``session.sql``; :class:`SqlLog` records it, parses it
with sqlglot (a parse error fails the test) and answers with the rows a test registered for it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import pytest
import sqlglot
from snowflake_doubles import predict_function
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
    """Parse one Snowflake statement; sqlglot raises ParseError on invalid SQL, failing the test."""
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


@pytest.fixture(scope="session")
def sf_classes() -> Any:
    """The real classes the doubles are specced from (imported once: they are slow to import)."""
    from snowflake.ml.jobs import MLJob
    from snowflake.ml.model import Model, ModelVersion
    from snowflake.ml.registry import Registry
    from snowflake.snowpark import DataFrame, DataFrameWriter, Session

    return mock.Mock(
        Session=Session,
        DataFrame=DataFrame,
        DataFrameWriter=DataFrameWriter,
        Registry=Registry,
        Model=Model,
        ModelVersion=ModelVersion,
        MLJob=MLJob,
    )


@pytest.fixture
def new_dataframe(sf_classes: Any) -> Callable[..., Any]:
    def make(schema: Any = None) -> Any:
        df = mock.create_autospec(sf_classes.DataFrame, instance=True, spec_set=True)
        df.write = mock.create_autospec(sf_classes.DataFrameWriter, instance=True, spec_set=True)
        if schema is not None:
            df.schema = schema
        # with_column returns a new DataFrame in Snowpark; the double returns itself so writes stay visible.
        df.with_column.return_value = df
        return df

    return make


@pytest.fixture
def session(sf_classes: Any, new_dataframe: Callable[..., Any]) -> Any:
    s = mock.create_autospec(sf_classes.Session, instance=True, spec_set=True)
    s.sql.side_effect = SqlLog(dataframe_factory=new_dataframe)
    return s


@pytest.fixture
def sql_log(session: Any) -> SqlLog:
    return session.sql.side_effect


@pytest.fixture
def conn_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(CONN))
    return CONN


@pytest.fixture
def snowpark_session_factory(session: Any) -> Any:
    """Patch the provider's SnowflakeHook.get_snowpark_session (our hook adds the QUERY_TAG on top)."""
    with mock.patch(
        "airflow.providers.snowflake.hooks.snowflake.SnowflakeHook.get_snowpark_session",
        autospec=True,
        return_value=session,
    ) as factory:
        yield factory


@pytest.fixture
def hook(conn_env: dict[str, Any], snowpark_session_factory: Any) -> Any:
    from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook

    h = SnowflakeBatchInferenceHook(CONN_ID, query_tag={"dag_id": "d", "task_id": "t", "run_id": "r"})
    yield h
    h.close()


@pytest.fixture
def backend(hook: Any) -> Any:
    from airflow_snowflake_batch.hooks.snowflake_backend import SnowflakeBackend

    b = hook.backend
    assert isinstance(b, SnowflakeBackend)
    return b


@pytest.fixture
def registry_cls(sf_classes: Any) -> Any:
    """``snowflake.ml.registry.Registry`` patched where the backend imports it (inside its methods)."""
    with mock.patch("snowflake.ml.registry.Registry", autospec=True, spec_set=True) as cls:
        yield cls


@pytest.fixture
def make_model_version(sf_classes: Any) -> Callable[..., Any]:
    def make(version: str = "V1", functions: list[dict[str, Any]] | None = None) -> Any:
        mv = mock.create_autospec(sf_classes.ModelVersion, instance=True, spec_set=True)
        mv.version_name = version
        mv.show_functions.return_value = functions if functions is not None else [predict_function()]
        return mv

    return make


@pytest.fixture
def model_registry(registry_cls: Any, sf_classes: Any, make_model_version: Callable[..., Any]) -> Any:
    """A registry holding DB.SC.IRIS with versions V1 (default, alias PROD) and V2 (alias LAST)."""
    versions = {"V1": make_model_version("V1"), "V2": make_model_version("V2")}
    aliases = {"PROD": "V1", "DEFAULT": "V1", "FIRST": "V1", "LAST": "V2"}
    model = mock.create_autospec(sf_classes.Model, instance=True, spec_set=True)

    def version(name: str) -> Any:
        key = name.strip('"').upper() if not name.startswith('"') else name.strip('"')
        key = aliases.get(key, key)
        if key not in versions:
            raise ValueError(f"Unable to find version or alias with name {name} in model DB.SC.IRIS")
        return versions[key]

    model.version.side_effect = version
    model.default = versions["V1"]

    def get_model(name: str) -> Any:
        if name.upper() != "IRIS":
            raise ValueError(f"Unable to find model {name}")
        return model

    registry_cls.return_value.get_model.side_effect = get_model
    return mock.Mock(cls=registry_cls, model=model, versions=versions)
