"""The example DAGs, unchanged, end to end with ``dag.test()`` on the emulated Snowflake account.

``snowflake_default`` is a ``snowflake`` connection to the account, seeded with the demo data and
model of ``scripts/demo_data.py`` (as ``scripts/demo.py`` seeds a local workspace). The warehouse
DAG scores through ``ModelVersion.run``; the batch DAG submits a job through ``run_batch``, defers
(``dag.test()`` runs the trigger in process) and loads the job's Parquet files. Each day's scores
must equal ``model.predict`` of that day's rows (``tests/e2e/score_checks.py``).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

import pytest

pytest.importorskip("fakesnow")

from e2e.repo import EXAMPLE_DAGS, script_module, serialize_dag_file  # noqa: E402
from e2e.score_checks import score_problems  # noqa: E402

from emulator.fixtures import connection_json  # noqa: E402

demo_data = script_module("demo_data")
DAY = "2024-03-01"
DAGS = ("nightly_warehouse_scoring", "nightly_batch_scoring")


@pytest.fixture(scope="module")
def demo(emulated_account: Any) -> Iterator[tuple[Any, Any, dict[str, ModuleType]]]:
    """The seeded account, the features and model, and the DAG modules (serialized, as dag.test() wants)."""
    from airflow.configuration import conf
    from airflow.utils import db

    db.resetdb()  # a fresh metadata database in the tests' AIRFLOW_HOME (tests/conftest.py)
    features = demo_data.customer_features([DAY, "2024-03-02"], [9, 4])  # the other day is not scored
    model = demo_data.train_churn_model()
    demo_data.seed_workspace(emulated_account, features, model)

    dags_folder = Path(conf.get("core", "dags_folder"))
    dags_folder.mkdir(parents=True, exist_ok=True)
    modules = {}
    for name in DAGS:
        target = dags_folder / f"{name}.py"
        shutil.copy(EXAMPLE_DAGS / f"{name}.py", target)
        serialize_dag_file(target)
        spec = importlib.util.spec_from_file_location(f"{name}_on_emulator", target)
        assert spec is not None and spec.loader is not None
        modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(modules[name])
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("AIRFLOW_CONN_SNOWFLAKE_DEFAULT", connection_json(emulated_account, "ML", "PUBLIC"))
            yield features, model, modules
    finally:  # later tests parse the DAGs folder too
        for name in DAGS:
            (dags_folder / f"{name}.py").unlink(missing_ok=True)


def _run(module: ModuleType) -> None:
    dag_run = module.dag.test(logical_date=dt.datetime.fromisoformat(f"{DAY}T00:00:00+00:00"))
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert set(states.values()) == {"success"}, states


def _check(emulated_account: Any, table: str, features: Any, model: Any) -> None:
    scores = emulated_account.read_table(table)
    assert scores is not None, f"{table} was not written"
    problems = score_problems(
        scores, features, model, days=[DAY], feature_columns=list(demo_data.FEATURE_COLUMNS)
    )
    assert problems == []


def test_the_warehouse_dag_scores_the_day(emulated_account: Any, demo: Any) -> None:
    features, model, modules = demo
    before = len(emulated_account.statements)
    _run(modules["nightly_warehouse_scoring"])
    _check(emulated_account, "ML.PUBLIC.CHURN_SCORES", features, model)
    # Scored by ModelVersion.run's MODEL(...)!PREDICT(...), not by anything of the provider's own.
    assert any("MODEL(ML.PUBLIC.CHURN_RISK" in q.text for q in emulated_account.statements[before:])


def test_the_batch_dag_submits_defers_and_loads_the_day(emulated_account: Any, demo: Any) -> None:
    from airflow_snowflake_batch.triggers.batch_job import SnowflakeBatchInferenceJobTrigger

    features, model, modules = demo
    before = len(emulated_account.statements)
    run = SnowflakeBatchInferenceJobTrigger.run
    with mock.patch.object(
        SnowflakeBatchInferenceJobTrigger, "run", autospec=True, side_effect=run
    ) as trigger:
        _run(modules["nightly_batch_scoring"])
    trigger.assert_called_once()  # the task deferred, and the trigger watched the job
    _check(emulated_account, "ML.PUBLIC.CHURN_SCORES_BATCH", features, model)
    sent = [q.text for q in emulated_account.statements[before:]]
    assert sum("EXECUTE INFERENCE JOB SERVICE" in s for s in sent) == 1
