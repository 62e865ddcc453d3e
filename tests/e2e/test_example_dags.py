"""The example DAGs parse, keep heavy libraries out of DAG parsing, and keep their how-to markers paired."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from airflow.sdk import XComArg

from .repo import EXAMPLE_DAGS

EXPECTED = {
    "nightly_warehouse_scoring": {"score_customers"},
    "nightly_batch_scoring": {"score_batch", "load_scores"},
    "backfill_scoring": {"score_on_warehouse", "score_in_batch", "load_batch_scores"},
    "churn_scores_report": {"summarize"},
    "image_classification": {"classify_images", "load_predictions"},
    "audio_features": {"analyze_audio", "load_features"},
    "multimodal_llm": {"caption_images", "load_captions"},
}
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
    assert outlet.uri == "snowflake://local/ML/PUBLIC/CHURN_SCORES"
    assert list(dags["churn_scores_report"].timetable.asset_condition.objects) == [outlet]


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
