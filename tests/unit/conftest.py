"""Fixtures of the Snowflake path: autospecs of the real Snowpark/snowflake-ml classes, and a SQL log.

They serve every unit test folder that runs the real hook and ``SnowflakeBackend`` on a ``snowflake``
connection (``hooks/``, ``operators/``); only the Snowflake libraries are doubled. A folder's own
conftest wins on a name clash (``local/`` defines its own ``hook``), and none of these is autouse, so
a test that asks for none of them imports neither snowflake-ml nor Snowpark.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest
from snowflake_doubles import CONN, CONN_ID, SqlLog, predict_function


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
    # Snowflake answers every aggregate with one row: an input of 6 rows, with its HASH_AGG.
    s.sql.side_effect.answer(r"HASH_AGG\(\*\)", [(1234, 6)])
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
    """Patch the hook's session creation (``get_snowpark_session`` then tags it)."""
    with mock.patch(
        "airflow_snowflake_batch.hooks.batch_inference_base.SnowflakeBatchInferenceBaseHook._connect",
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
    from airflow_snowflake_batch.backends.snowflake import SnowflakeBackend

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
