"""The image, audio and multimodal-LLM example DAGs run with ``dag.test()`` on a local workspace.

``scripts/media_data.py`` creates their files, models and table; the DAG files of ``dags_examples/``
run unchanged, with ``snowflake_default`` pointing at the workspace.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from .repo import serialize_dag_file

REPO = Path(__file__).resolve().parents[2]
DAGS = ("image_classification", "audio_features", "multimodal_llm")


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # models defined in it are pickled by value from here
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def media_data() -> ModuleType:
    return _load("scripts_media_data", REPO / "scripts" / "media_data.py")


@pytest.fixture(scope="module")
def prepared(airflow_db, media_data, tmp_path_factory) -> Any:
    """The workspace behind ``snowflake_default``, the DAG modules, and the truth of the data."""
    from airflow.configuration import conf

    from airflow_snowflake_batch.local import LocalWorkspace

    ws = LocalWorkspace(tmp_path_factory.mktemp("media") / "ws")
    truth = media_data.prepare_all(ws, images=12)
    dags_folder = Path(conf.get("core", "dags_folder"))
    dags_folder.mkdir(parents=True, exist_ok=True)
    modules = {}
    for name in DAGS:
        target = dags_folder / f"{name}.py"
        shutil.copy(REPO / "dags_examples" / f"{name}.py", target)
        serialize_dag_file(target)
        modules[name] = _load(f"{name}_under_test", target)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_CONN_SNOWFLAKE_DEFAULT", ws.connection_uri())
        yield ws, modules, truth


def _run(modules: dict[str, ModuleType], name: str) -> None:
    dag_run = modules[name].dag.test()
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert set(states.values()) == {"success"}, states


def _read_digit(ws: Any, media_data: ModuleType, path: str, classifier: Any) -> int:
    png = ws.path_of(path.rstrip("/")).read_bytes()
    return int(classifier.predict(media_data.digit_features(png)[None, :])[0])


def test_image_dag_classifies_each_png_of_the_folder(prepared, media_data):
    ws, modules, truth = prepared
    _run(modules, "image_classification")

    predictions = ws.read_table("DIGIT_PREDICTIONS").set_index("IMAGE")["DIGIT"].to_dict()
    assert sorted(predictions) == sorted(truth["digits"])  # README.txt left out by file_pattern
    _, _, classifier = media_data.digit_images(12)
    # The job handed the model each file's exact bytes: it reads the digit the classifier reads there.
    assert predictions == {p: _read_digit(ws, media_data, p, classifier) for p in predictions}
    correct = sum(predictions[p] == label for p, label in truth["digits"].items())
    assert correct >= 9, (predictions, truth["digits"])


def test_audio_dag_extracts_the_tone_of_each_wav_file(prepared):
    ws, modules, truth = prepared
    _run(modules, "audio_features")

    features = ws.read_table("AUDIO_FEATURES").set_index("AUDIO")
    assert sorted(features.index) == sorted(truth["tones"])
    for path, hz in truth["tones"].items():
        # FFT bins are 1 / 0.3 s apart; the 0.05 s of trailing silence made it through byte for byte.
        assert abs(features.loc[path, "DOMINANT_HZ"] - hz) <= 3.4
        assert features.loc[path, "SECONDS"] == pytest.approx(0.3)


def test_llm_dag_hands_the_chat_model_the_stage_images(prepared, media_data):
    ws, modules, truth = prepared
    _run(modules, "multimodal_llm")

    captions = ws.read_table("IMAGE_CAPTIONS").set_index("IMAGE_PATH")
    assert sorted(captions.index) == sorted(truth["digits"])
    _, _, classifier = media_data.digit_images(12)
    for path in truth["digits"]:
        (choice,) = list(captions.loc[path, "CHOICES"])
        digit = _read_digit(ws, media_data, path, classifier)
        assert choice["message"]["content"] == (
            f"Asked 'Which digit is this?': the image shows the digit {digit}."
        )
        assert captions.loc[path, "OBJECT"] == "chat.completion"


def test_structured_and_json_text_messages_get_the_same_answers(prepared):
    from airflow_snowflake_batch.exceptions import InputValidationError
    from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook

    ws, _, _ = prepared
    ws.sql(
        "CREATE OR REPLACE TABLE ML.PUBLIC.CAPTION_REQUESTS_JSON AS "
        "SELECT IMAGE_PATH, CAST(MESSAGES AS JSON) AS MESSAGES FROM ML.PUBLIC.CAPTION_REQUESTS"
    )
    answers = {}
    with SnowflakeBatchInferenceHook("snowflake_default") as hook:
        for table in ("CAPTION_REQUESTS", "CAPTION_REQUESTS_JSON"):
            spec = hook.build_batch_job_spec(
                model_name="VISION_CHAT",
                version_name=None,
                function_name=None,
                source=hook.input_source(input_table=table),
                compute_pool="POOL",
                output_stage_location="@BATCH_OUTPUT/compare/",
                job_name=f"COMPARE_{table}",
                params={"max_completion_tokens": 57},
            )
            start = hook.start_batch_job(spec)
            assert hook.wait_for_job(start.job_id, poll_interval=0.5).status.value == "DONE"
            hook.load_results(output_location=start.output_location.sql, target_table=f"ANSWERS_{table}")
            rows = ws.read_table(f"ANSWERS_{table}").set_index("IMAGE_PATH")["CHOICES"]
            answers[table] = {p: list(c)[0]["message"]["content"] for p, c in rows.items()}

        # Warehouse inference takes only structured messages, as ModelVersion.run() does.
        with pytest.raises(InputValidationError, match=r"'MESSAGES' has type VARCHAR.*PARSE_JSON"):
            hook.run_warehouse_inference(
                model_name="VISION_CHAT",
                version_name=None,
                function_name=None,
                source=hook.input_source(input_table="CAPTION_REQUESTS"),
                output_table="NEVER_WRITTEN",
            )
    assert answers["CAPTION_REQUESTS"] == answers["CAPTION_REQUESTS_JSON"]
    # The param reached the model: each answer lost its final "." and ends with the digit read.
    assert all(len(a) == 57 and a[-1].isdigit() for a in answers["CAPTION_REQUESTS"].values())
    assert not ws.table_exists("NEVER_WRITTEN")


def test_a_messages_value_that_is_not_json_fails_the_job_naming_its_column_and_row(prepared):
    """Issue 19: the job failed late with json's bare "Expecting value", naming neither column nor row."""
    from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook

    ws, _, _ = prepared
    ws.sql(
        "CREATE OR REPLACE TABLE ML.PUBLIC.CAPTION_REQUESTS_BAD AS SELECT IMAGE_PATH, CASE WHEN n = 2 "
        "THEN 'daily extract, not JSON' ELSE MESSAGES END AS MESSAGES FROM (SELECT *, row_number() OVER "
        "(ORDER BY IMAGE_PATH) AS n FROM ML.PUBLIC.CAPTION_REQUESTS) ORDER BY n"
    )
    with SnowflakeBatchInferenceHook("snowflake_default") as hook:
        spec = hook.build_batch_job_spec(
            model_name="VISION_CHAT",
            version_name=None,
            function_name=None,
            source=hook.input_source(input_table="CAPTION_REQUESTS_BAD"),
            compute_pool="POOL",
            output_stage_location="@BATCH_OUTPUT/bad/",
            job_name="BAD_MESSAGES",
        )
        start = hook.start_batch_job(spec)
        state = hook.wait_for_job(start.job_id, poll_interval=0.5)
    assert state.status.value == "FAILED"
    assert "Column 'MESSAGES', row 2 of input file data_0.parquet" in state.message, state.message
    assert "not JSON text" in state.message and "daily extract, not JSON" in state.message
