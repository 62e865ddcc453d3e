"""The example DAGs parse, keep heavy libraries out of DAG parsing, keep the how-to markers the docs
include, and the ones not run elsewhere run with ``dag.test()`` on a local workspace.

Run elsewhere: the nightly DAGs by ``scripts/demo.py`` and on the emulated account
(``tests/emulator``), ``backfill_scoring`` by ``test_backfill_e2e.py``, the media DAGs by
``test_media_example_dags.py``.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import airflow.sdk
import pytest
from airflow.sdk import XComArg

from .repo import EXAMPLE_DAGS, REPO_ROOT, script_module, serialize_dag_file

EXPECTED = {
    "nightly_warehouse_scoring": {"score_customers"},
    "nightly_batch_scoring": {"score_batch", "load_scores"},
    "backfill_scoring": {"score_on_warehouse", "score_in_batch", "load_batch_scores"},
    "churn_scores_report": {"summarize"},
    "image_classification": {"classify_images", "load_predictions"},
    "audio_features": {"analyze_audio", "load_features"},
    "multimodal_llm": {"caption_images", "load_captions"},
    "batch_scoring_with_sensor": {"submit_job", "wait_for_job", "load_scores"},
    "batch_jobs_cleanup": {"cleanup_batch_jobs"},
    "score_chosen_model_version": {"score_with_version"},
}
# Airflow 3.2+ only (partitioned scheduling): on 3.1 their files define no DAG, and parse cleanly.
PARTITIONED = {
    "partitioned_scoring": {"score_partition"},
    "partitioned_scores_report": {"summarize_partition"},
}
HAS_PARTITIONS = hasattr(airflow.sdk, "CronPartitionTimetable")
if HAS_PARTITIONS:
    EXPECTED |= PARTITIONED
# Imported by the scheduler and dag-processor on every parse: these belong inside task code only.
HEAVY = (
    "snowflake.ml",
    "snowflake.snowpark",
    "duckdb",
    "pandas",
    "pyarrow",
    "sklearn",
    "airflow_snowflake_batch.local",
)


def _dagbag():
    try:
        from airflow.dag_processing.dagbag import DagBag  # Airflow 3.2+
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag
    return DagBag(dag_folder=str(EXAMPLE_DAGS))  # examples off: tests/conftest.py sets LOAD_EXAMPLES


def test_example_dags_parse_with_their_tasks() -> None:
    dagbag = _dagbag()
    assert dagbag.import_errors == {}
    assert {dag_id: set(dag.task_dict) for dag_id, dag in dagbag.dags.items()} == EXPECTED


def test_batch_results_are_loaded_from_the_job_folder_of_the_same_run() -> None:
    dags = _dagbag().dags
    for dag_id, batch, load in (
        ("nightly_batch_scoring", "score_batch", "load_scores"),
        ("backfill_scoring", "score_in_batch", "load_batch_scores"),
    ):
        dag = dags[dag_id]
        source = dag.task_dict[load].output_location
        # The load reads the folder the batch task of the same run pushed, not a fixed path.
        assert isinstance(source, XComArg), source
        assert (source.operator.task_id, source.key) == (batch, "output_location")
        assert dag.task_dict[load].upstream_task_ids == {batch}
        assert dag.task_dict[batch].deferrable is True
        assert dag.task_dict[load].output_partition == {"SCORE_DATE": "{{ ds }}"}


def test_the_report_is_scheduled_on_the_asset_the_scoring_task_updates() -> None:
    dags = _dagbag().dags
    (outlet,) = dags["nightly_warehouse_scoring"].task_dict["score_customers"].outlets
    # The Snowflake provider's URI form, built from the one account constant the DAG's author sets.
    assert outlet.uri == "snowflake://myorg-myaccount/ML/PUBLIC/CHURN_SCORES"
    (ref,) = dags["churn_scores_report"].timetable.asset_condition.objects
    assert ref.name == outlet.name == "churn_scores"


@pytest.mark.skipif(not HAS_PARTITIONS, reason="Airflow 3.1 has no partitioned scheduling")
def test_the_partitioned_report_is_scheduled_on_the_partitions_the_scoring_dag_writes() -> None:
    dags = _dagbag().dags
    scoring, report = dags["partitioned_scoring"], dags["partitioned_scores_report"]
    assert isinstance(scoring.timetable, airflow.sdk.CronPartitionTimetable)
    assert isinstance(report.timetable, airflow.sdk.PartitionedAssetTimetable)
    task = scoring.task_dict["score_partition"]
    # No output_partition: the run's partition key decides what the write replaces.
    assert task.output_partition is None and "dag_run.partition_key" in task.input_query
    (outlet,) = task.outlets
    ref = report.timetable.asset_condition  # one asset: the condition is its reference
    assert ref.name == outlet.name == "churn_scores_partitioned"


@pytest.mark.skipif(HAS_PARTITIONS, reason="Airflow 3.2+ has partitioned scheduling")
def test_on_airflow_3_1_the_partitioned_examples_define_no_dag() -> None:
    dagbag = _dagbag()
    assert dagbag.import_errors == {}
    assert not set(PARTITIONED) & set(dagbag.dags)


def test_no_example_hard_codes_the_local_workspace() -> None:
    for path in EXAMPLE_DAGS.glob("*.py"):
        assert "snowflake://local" not in path.read_text(), path.name


def test_the_batch_task_waits_through_the_sensor() -> None:
    dag = _dagbag().dags["batch_scoring_with_sensor"]
    submit, sensor, load = (dag.task_dict[t] for t in ("submit_job", "wait_for_job", "load_scores"))
    assert submit.wait_for_completion is False
    assert isinstance(sensor.job_id, XComArg), sensor.job_id
    assert (sensor.job_id.operator.task_id, sensor.job_id.key) == ("submit_job", "job_id")
    assert load.upstream_task_ids == {"submit_job", "wait_for_job"}


def test_the_model_version_is_a_param_of_the_run() -> None:
    dag = _dagbag().dags["score_chosen_model_version"]
    task = dag.task_dict["score_with_version"]
    assert "version_name" in task.template_fields
    assert task.version_name == "{{ params.model_version }}"
    assert dag.params["model_version"] == "V1"


@pytest.mark.parametrize("path", sorted(EXAMPLE_DAGS.glob("*.py")), ids=lambda p: p.name)
def test_parsing_imports_no_heavy_library(path) -> None:
    code = (
        "import runpy, sys; runpy.run_path(sys.argv[1]); "
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r} or m.startswith({HEAVY!r})))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("path", sorted(EXAMPLE_DAGS.glob("*.py")), ids=lambda p: p.name)
def test_howto_markers_are_paired(path) -> None:
    text = path.read_text()
    starts = re.findall(r"# \[START (\w+)\]", text)
    ends = re.findall(r"# \[END (\w+)\]", text)
    assert starts, f"{path.name} has no # [START howto_...] marker"
    assert starts == ends
    assert all(name.startswith("howto_") for name in starts)


def _markers_in_examples() -> set[tuple[str, str]]:
    return {
        (path.name, name)
        for path in EXAMPLE_DAGS.glob("*.py")
        for name in re.findall(r"# \[START (\w+)\]", path.read_text())
    }


def _markers_in_docs() -> set[tuple[str, str]]:
    """(file, marker) of every ``literalinclude`` of ``dags_examples/`` in ``docs/``, checked whole."""
    included = set()
    directive = re.compile(r"^\.\. literalinclude:: (?:\.\./)+dags_examples/(\S+)\n((?:   .*\n)+)", re.M)
    for page in (REPO_ROOT / "docs").rglob("*.rst"):
        for name, options in directive.findall(page.read_text()):
            start = re.search(r":start-after: # \[START (\w+)\]", options)
            end = re.search(r":end-before: # \[END (\w+)\]", options)
            assert start and end and start[1] == end[1], f"{page.name}: {name} needs a START/END pair"
            included.add((name, start[1]))
    return included


def test_the_docs_include_every_howto_marker_and_only_existing_ones() -> None:
    in_docs, in_examples = _markers_in_docs(), _markers_in_examples()
    assert in_docs - in_examples == set(), "the docs include markers no example DAG has"
    assert in_examples - in_docs == set(), "markers no docs page includes"


# -- dag.test() on a local workspace ----------------------------------------------------------

DAY = "2024-03-15"
RUN_ON_A_WORKSPACE = (
    "batch_scoring_with_sensor",
    "batch_jobs_cleanup",
    "score_chosen_model_version",
    "nightly_warehouse_scoring",
    "churn_scores_report",
)


@pytest.fixture(scope="module")
def local_demo(tmp_path_factory) -> Iterator[tuple[Any, Any, dict[str, ModuleType]]]:
    """A local workspace with the demo data (``CHURN_RISK`` as V1 and V2), and the DAG modules."""
    from airflow.configuration import conf
    from airflow.utils import db

    from airflow_snowflake_batch.local import LocalWorkspace

    demo_data = script_module("demo_data")
    db.resetdb()  # a fresh metadata database in the tests' AIRFLOW_HOME (tests/conftest.py)
    ws = LocalWorkspace(tmp_path_factory.mktemp("examples") / "ws", database="ML", schema="PUBLIC")
    features = demo_data.customer_features([DAY], [7])
    model = demo_data.train_churn_model()
    demo_data.seed_workspace(ws, features, model)
    sample = features[list(demo_data.FEATURE_COLUMNS)].head(20)
    ws.log_model(model, model_name=demo_data.MODEL_NAME, version_name="V2", sample_input_data=sample)

    dags_folder = Path(conf.get("core", "dags_folder"))
    dags_folder.mkdir(parents=True, exist_ok=True)
    modules = {}
    for name in RUN_ON_A_WORKSPACE:
        target = dags_folder / f"{name}.py"
        shutil.copy(EXAMPLE_DAGS / f"{name}.py", target)
        serialize_dag_file(target)
        spec = importlib.util.spec_from_file_location(f"{name}_on_a_workspace", target)
        assert spec is not None and spec.loader is not None
        modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(modules[name])
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("AIRFLOW_CONN_SNOWFLAKE_DEFAULT", ws.connection_uri())
            yield ws, features, modules
    finally:  # later tests parse the DAGs folder too
        for name in RUN_ON_A_WORKSPACE:
            (dags_folder / f"{name}.py").unlink(missing_ok=True)


def _run(module: ModuleType, **kwargs: Any) -> dict[str, Any]:
    logical_date = dt.datetime.fromisoformat(f"{DAY}T00:00:00+00:00")
    dag_run = module.dag.test(logical_date=logical_date, **kwargs)
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert set(states.values()) == {"success"}, states
    return states


def test_the_sensor_waits_for_the_submitted_job_then_the_day_loads(local_demo) -> None:
    ws, features, modules = local_demo
    _run(modules["batch_scoring_with_sensor"])
    scores = ws.read_table("ML.PUBLIC.CHURN_SCORES_SENSOR")
    assert sorted(scores["CUSTOMER_ID"]) == sorted(features["CUSTOMER_ID"])


def test_cleanup_keeps_the_recent_job_and_its_folder(local_demo) -> None:
    ws, _, modules = local_demo
    folder = ws.path_of("@ML.PUBLIC.BATCH_OUTPUT/churn_risk_sensor")
    before = sorted(p.name for p in folder.iterdir())
    _run(modules["batch_jobs_cleanup"])
    assert sorted(p.name for p in folder.iterdir()) == before  # a job of today is not 30 days old


def test_a_run_scores_with_the_model_version_it_chose(local_demo) -> None:
    ws, features, modules = local_demo
    _run(modules["score_chosen_model_version"], run_conf={"model_version": "V2"})
    scores = ws.read_table("ML.PUBLIC.CHURN_SCORES_BY_VERSION")
    assert set(scores["MODEL_VERSION"]) == {"V2"}
    assert sorted(scores["CUSTOMER_ID"]) == sorted(features["CUSTOMER_ID"])


def test_the_report_runs_without_asset_events(local_demo) -> None:
    """A manual run has no triggering asset events (on Airflow 3.1 a lookup with an Asset key failed)."""
    _, _, modules = local_demo
    _run(modules["churn_scores_report"])
