"""Files handed to models by local batch jobs: every encoding byte for byte, folders of files, and
missing or unreadable files named in the error."""

# No "from __future__ import annotations": snowflake-ml checks inference methods' annotations at runtime.

import base64
import hashlib
import mimetypes
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from snowflake.ml.model import custom_model
from snowflake.ml.model import model_signature as ms

from airflow_snowflake_batch.backends.local import media
from airflow_snowflake_batch.backends.local.layout import Layout
from airflow_snowflake_batch.exceptions import InputValidationError
from airflow_snowflake_batch.local import LocalWorkspace

CONN_ID = "media_ws"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Digests(custom_model.CustomModel):
    """What the model was handed, per encoding: the Python type and a digest of the decoded bytes."""

    def __init__(self) -> None:
        super().__init__(custom_model.ModelContext())

    @custom_model.inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "RAW_TYPE": [type(v).__name__ for v in X["RAW"]],
                "RAW_SHA": [_sha(v) for v in X["RAW"]],
                "B64_SHA": [_sha(base64.b64decode(v, validate=True)) for v in X["B64"]],
                "URL_HEAD": [v.split(",", 1)[0] for v in X["URL"]],
                "URL_SHA": [_sha(base64.b64decode(v.split(",", 1)[1], validate=True)) for v in X["URL"]],
            }
        )


class FileDigest(custom_model.CustomModel):
    def __init__(self) -> None:
        super().__init__(custom_model.ModelContext())

    @custom_model.inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"SHA": [_sha(v) for v in X["FILE"]]})


def _string(name: str) -> Any:
    return ms.FeatureSpec(name, ms.DataType.STRING)


DIGESTS = ms.ModelSignature(
    inputs=[ms.FeatureSpec("RAW", ms.DataType.BYTES), _string("B64"), _string("URL")],
    outputs=[_string(n) for n in ("RAW_TYPE", "RAW_SHA", "B64_SHA", "URL_HEAD", "URL_SHA")],
)
FILE_DIGEST = ms.ModelSignature(inputs=[ms.FeatureSpec("FILE", ms.DataType.BYTES)], outputs=[_string("SHA")])


@pytest.fixture
def media_ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[LocalWorkspace, dict[str, bytes]]:
    """Binary files (trailing NUL bytes included) on stage MEDIA, and the two digest models."""
    ws = LocalWorkspace(tmp_path / "ws")
    ws.create_stage("MEDIA")
    ws.create_stage("OUT")
    rng = np.random.default_rng(3)
    files = {}
    for name in ("blob_1.png", "blob_2.wav", "sub/blob_3.png"):
        data = rng.integers(0, 256, size=300 + 50 * len(files), dtype=np.uint8).tobytes() + b"\x00\x00"
        local = tmp_path / "files" / name
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_bytes(data)
        files[ws.put(local, "@MEDIA/in/" + str(Path(name).parent).replace(".", ""))] = data
    (tmp_path / "files" / "notes.txt").write_text("not scored")
    ws.put(tmp_path / "files" / "notes.txt", "@MEDIA/in/")
    ws.log_model(Digests(), model_name="DIGESTS", version_name="V1", signatures={"predict": DIGESTS})
    ws.log_model(
        FileDigest(), model_name="FILE_DIGEST", version_name="V1", signatures={"predict": FILE_DIGEST}
    )
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", ws.connection_uri())
    return ws, files


def _submit(hook: Any, model: str, job: str, **options: Any) -> Any:
    source = {k: options.pop(k) for k in ("input_table", "input_files", "file_pattern") if k in options}
    spec = hook.build_batch_job_spec(
        model_name=model,
        version_name=None,
        function_name=None,
        source=hook.input_source(**source),
        compute_pool="POOL",
        output_stage_location="@OUT/",
        job_name=job,
        **options,
    )
    return hook.start_batch_job(spec)


def test_files_reach_the_model_byte_for_byte_in_every_encoding(media_ws):
    from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook

    ws, files = media_ws
    paths = sorted(files)
    ws.write_table("BLOBS", pd.DataFrame({"RAW": paths, "B64": paths, "URL": paths}))
    ws.write_table("MISSING", pd.DataFrame({"FILE": [paths[0], "@ML.PUBLIC.MEDIA/in/gone.png"]}))
    handling = {
        # Any case: the hook normalizes the values as snowflake-ml spells them.
        "raw": {"input_format": "FULL_STAGE_PATH", "convert_to": "Raw_Bytes"},
        "B64": {"input_format": "full_stage_path", "convert_to": "base64"},
        "URL": {"input_format": "full_stage_path", "convert_to": "BASE64_DATA_URL"},
    }
    with SnowflakeBatchInferenceHook(CONN_ID) as hook:
        # Three jobs at once (they run in their own processes): encodings, a folder, a missing file.
        encodings = _submit(hook, "DIGESTS", "ENCODINGS", input_table="BLOBS", column_handling=handling)
        folder = _submit(
            hook, "FILE_DIGEST", "FOLDER", input_files="@MEDIA/in/", file_pattern=r".*\.(png|wav)"
        )
        missing = _submit(
            hook,
            "FILE_DIGEST",
            "MISSING",
            input_table="MISSING",
            column_handling={"FILE": {"input_format": "full_stage_path", "convert_to": "raw_bytes"}},
        )
        states = {
            start.job_name: hook.wait_for_job(start.job_id, poll_interval=0.5)
            for start in (encodings, folder, missing)
        }
        for name in ("ENCODINGS", "FOLDER"):
            assert states[name].status.value == "DONE", hook.get_job_logs(f"ML.PUBLIC.{name}")
            hook.load_results(output_location=f"@OUT/{name}/", target_table=f"{name}_RESULT")

    result = ws.read_table("ENCODINGS_RESULT").sort_values("RAW")
    assert list(result["RAW"]) == paths  # the paths stay in the results, to join back to the files
    expected = [_sha(files[p]) for p in paths]
    assert list(result["RAW_TYPE"]) == ["bytes"] * 3
    assert list(result["RAW_SHA"]) == expected
    assert list(result["B64_SHA"]) == expected
    assert list(result["URL_SHA"]) == expected
    assert list(result["URL_HEAD"]) == [f"data:{mimetypes.guess_type(p)[0]};base64" for p in paths]

    scored = ws.read_table("FOLDER_RESULT").sort_values("FILE")
    assert list(scored["FILE"]) == paths  # notes.txt left out by file_pattern
    assert list(scored["SHA"]) == expected

    assert states["MISSING"].status.value == "FAILED"
    assert "@ML.PUBLIC.MEDIA/in/gone.png" in states["MISSING"].message


def test_an_unreadable_stage_file_is_an_error_naming_it(tmp_path):
    layout = Layout.at(tmp_path)
    read = media.stage_reader(layout, "ML", "PUBLIC")
    with pytest.raises(OSError, match=r"Stage file @ML\.PUBLIC\.MEDIA/bad name\.png cannot be read"):
        read("@ML.PUBLIC.MEDIA/bad name.png")
    with pytest.raises(FileNotFoundError, match=r"Stage file @ML\.PUBLIC\.MEDIA/a\.png does not exist"):
        read("@ML.PUBLIC.MEDIA/a.png")


def test_an_empty_folder_or_an_unusable_file_name_fails_before_submit(media_ws, tmp_path):
    from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook

    ws, _ = media_ws
    odd = tmp_path / "my photo.png"
    odd.write_bytes(b"\x89PNG")
    ws.path_of("@MEDIA/odd/").mkdir(parents=True)
    (ws.path_of("@MEDIA/odd/") / odd.name).write_bytes(odd.read_bytes())
    with SnowflakeBatchInferenceHook(CONN_ID) as hook:
        with pytest.raises(InputValidationError, match=r"holds no file matching file_pattern '.*\\.jpeg'"):
            _submit(hook, "FILE_DIGEST", "J1", input_files="@MEDIA/in/", file_pattern=r".*\.jpeg")
        with pytest.raises(InputValidationError, match=r"Input file '@ML\.PUBLIC\.MEDIA/odd/my photo\.png'"):
            _submit(hook, "FILE_DIGEST", "J2", input_files="@MEDIA/odd/")
    assert ws.list_files("@OUT/") == []


def test_stage_urls_in_chat_messages_are_handed_over_inline():
    files = {"@DB.SC.M/cat.png": b"\x89PNG\x00", "@DB.SC.M/clip.mp4": b"\x00\x01", "@DB.SC.M/a.wav": b"RIFF"}
    messages = [
        {"role": "system", "content": "plain text content stays as it is"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Describe @DB.SC.M/cat.png"},
                {"type": "image_url", "image_url": {"url": "@DB.SC.M/cat.png", "detail": "low"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/dog.png"}},
                {"type": "video_url", "video_url": {"url": "@DB.SC.M/clip.mp4"}},
                {"type": "input_audio", "input_audio": {"data": "@DB.SC.M/a.wav", "format": "wav"}},
            ],
        },
    ]
    import json

    resolved = media.resolve_messages(json.dumps(messages), files.__getitem__)
    parts = resolved[1]["content"]
    assert resolved[0] == messages[0]
    assert parts[0] == messages[1]["content"][0]  # text mentioning a path is not touched
    assert parts[1]["image_url"] == {
        "url": "data:image/png;base64," + base64.b64encode(b"\x89PNG\x00").decode(),
        "detail": "low",
    }
    assert parts[2] == messages[1]["content"][2]  # not a stage URL
    assert parts[3]["video_url"]["url"] == "data:video/mp4;base64," + base64.b64encode(b"\x00\x01").decode()
    assert parts[4]["input_audio"] == {"data": base64.b64encode(b"RIFF").decode(), "format": "wav"}
