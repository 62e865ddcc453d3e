"""Folders of files, ``column_handling`` and OpenAI chat models on the Snowflake path.

The real hook and ``SnowflakeBackend`` run over the Snowpark/snowflake-ml doubles of
``tests/unit/conftest.py``; every statement sent is parsed with sqlglot's Snowflake dialect.
"""

from __future__ import annotations

from typing import Any

import pytest
from snowflake_doubles import predict_function

from airflow_snowflake_batch.exceptions import InputValidationError


def _row(**values: Any) -> Any:
    from snowflake.snowpark import Row

    return Row(**values)


def _file_function(dtype: str, name: str = "IMAGE") -> dict[str, Any]:
    from snowflake.ml.model import model_signature as ms

    return predict_function(
        inputs=[ms.FeatureSpec(name, getattr(ms.DataType, dtype))],
        outputs=[ms.FeatureSpec("LABEL", ms.DataType.INT64)],
    )


def _chat_function(signature: Any) -> dict[str, Any]:
    entry = predict_function(name="__CALL__", target_method="__call__")
    entry["signature"] = signature
    return entry


@pytest.fixture
def submitted(hook, model_registry, session, new_dataframe, sql_log) -> Any:
    """An SSE output stage and a MEDIA stage whose LIST shows two PNGs and a text file."""
    sql_log.answer("SHOW STAGES", [_row(name="OUT", type="INTERNAL NO CSE")])
    sql_log.answer(
        r"^LIST @DB\.SC\.MEDIA/",
        [
            _row(name="media/digits/a.png", size=10, md5="0f", last_modified="Mon, 30 Nov 2026 04:47:14 GMT"),
            _row(
                name="media/digits/notes.txt", size=3, md5="0f", last_modified="Mon, 30 Nov 2026 04:47:14 GMT"
            ),
            _row(
                name="media/digits/sub/b.png",
                size=12,
                md5="0f",
                last_modified="Mon, 30 Nov 2026 04:47:14 GMT",
            ),
        ],
    )
    session.create_dataframe.return_value = new_dataframe()
    mv = model_registry.versions["V1"]
    mv.run_batch.side_effect = lambda *a, job_name, **k: _job(job_name)
    return mv


def _job(job_id: str) -> Any:
    from unittest import mock

    from snowflake.ml.jobs import MLJob

    job = mock.create_autospec(MLJob, instance=True, spec_set=True)
    job.id = job_id
    return job


def _start(hook: Any, **options: Any) -> Any:
    from unittest import mock

    source_options = {
        k: options.pop(k)
        for k in ("input_table", "input_files", "file_pattern", "file_column")
        if k in options
    }
    spec = hook.build_batch_job_spec(
        model_name="iris",
        version_name=None,
        function_name=None,
        source=hook.input_source(**source_options),
        compute_pool="pool",
        output_stage_location="@out/preds",
        job_name="job_1",
        **options,
    )
    state = mock.Mock(job_id="DB.SC.JOB_1", status=mock.Mock(is_terminal=False))
    with (
        mock.patch.object(type(hook), "find_job", autospec=True, return_value=None),
        mock.patch.object(type(hook), "get_job_state", autospec=True, return_value=state),
    ):
        return hook.start_batch_job(spec)


@pytest.mark.parametrize(("dtype", "encoding"), [("BYTES", "raw_bytes"), ("STRING", "base64")])
def test_a_folder_of_files_is_scored_one_row_per_matching_file(
    hook, model_registry, submitted, session, sql_log, dtype, encoding
):
    model_registry.versions["V1"].show_functions.return_value = [_file_function(dtype)]

    _start(hook, input_files="@media/digits/", file_pattern=r".*\.png")

    listed = sql_log.one(r"^LIST @DB\.SC\.MEDIA")
    assert listed.sql == "LIST @DB.SC.MEDIA/digits/"
    session.create_dataframe.assert_called_once_with(
        [["@DB.SC.MEDIA/digits/a.png"], ["@DB.SC.MEDIA/digits/sub/b.png"]], schema=["IMAGE"]
    )
    call = submitted.run_batch.call_args
    assert call.args[0] is session.create_dataframe.return_value
    assert call.kwargs["input_stage_location"] is None
    assert call.kwargs["input_spec"].column_handling == {
        "IMAGE": {"input_format": "full_stage_path", "convert_to": encoding}
    }


def test_column_handling_is_normalized_and_may_override_the_default(hook, model_registry, submitted):
    model_registry.versions["V1"].show_functions.return_value = [_file_function("STRING")]

    _start(
        hook,
        input_files="@media/digits/",
        column_handling={"image": {"INPUT_FORMAT": "Full_Stage_Path", "convert_to": "BASE64_DATA_URL"}},
    )

    handling = submitted.run_batch.call_args.kwargs["input_spec"].column_handling
    assert handling == {"IMAGE": {"input_format": "full_stage_path", "convert_to": "base64_data_url"}}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"column_handling": {"IMAGE": {"input_format": "full_stage_path", "convert_to": "raw_bytes"}}},
            r"convert_to 'raw_bytes' gives BYTES, but feature 'IMAGE' expects STRING.*'base64' or 'base64_data_url'",
        ),
        (
            {"column_handling": {"IMAGE": {"input_format": "url", "convert_to": "base64"}}},
            r"unknown input_format 'url', expected one of full_stage_path",
        ),
        (
            {"column_handling": {"PHOTO": {"input_format": "full_stage_path", "convert_to": "base64"}}},
            r"'PHOTO': the input has no such column",
        ),
        (
            {"file_pattern": r".*\.jpeg"},
            r"holds no file matching file_pattern .*jpeg.* \(3 file\(s\) in total\); nothing was submitted",
        ),
        ({"file_column": "LABEL"}, r"file_column 'LABEL' is not an input of function PREDICT"),
    ],
)
def test_bad_file_inputs_fail_before_submit(hook, model_registry, submitted, options, message):
    model_registry.versions["V1"].show_functions.return_value = [_file_function("STRING")]
    with pytest.raises(InputValidationError, match=message):
        _start(hook, input_files="@media/digits/", **options)
    submitted.run_batch.assert_not_called()


def test_the_four_inputs_are_mutually_exclusive_and_file_options_need_input_files(hook):
    with pytest.raises(InputValidationError, match="got input_table, input_files"):
        hook.input_source(input_table="t", input_files="@media/")
    with pytest.raises(InputValidationError, match="file_pattern and file_column apply only to input_files"):
        hook.input_source(input_table="t", file_pattern=".*")
    with pytest.raises(InputValidationError, match=r"file_pattern '\[' is not a valid regular expression"):
        hook.input_source(input_files="@media/", file_pattern="[")


def test_a_stage_location_of_images_points_to_input_files(hook, model_registry, submitted):
    model_registry.versions["V1"].show_functions.return_value = [_file_function("BYTES")]
    function = hook.resolve_function(hook.get_model_version("iris"), None)
    source = hook.input_source(input_stage_location="@media/digits/")
    with pytest.raises(
        InputValidationError,
        match=r"@DB\.SC\.MEDIA/digits/ holds no Parquet files \(it holds 3 other file\(s\), e\.g\. \['a\.png'.*"
        r"use input_files='@DB\.SC\.MEDIA/digits/' instead",
    ):
        hook.validate_input(source, function, batch=True)


def test_an_ambiguous_file_feature_needs_file_column(hook, model_registry, submitted, session):
    from snowflake.ml.model import model_signature as ms

    two = predict_function(
        inputs=[ms.FeatureSpec("IMAGE", ms.DataType.BYTES), ms.FeatureSpec("CAPTION", ms.DataType.STRING)]
    )
    model_registry.versions["V1"].show_functions.return_value = [two]
    with pytest.raises(InputValidationError, match=r"2 BYTES or STRING inputs.*Pass file_column"):
        _start(hook, input_files="@media/digits/")
    submitted.run_batch.assert_not_called()


# -- OpenAI chat models --------------------------------------------------------------------------


def _messages_table(session: Any, new_dataframe: Any, sql_type: Any) -> None:
    from snowflake.snowpark.types import StringType, StructField, StructType

    session.table.return_value = new_dataframe(
        StructType([StructField("IMAGE_PATH", StringType()), StructField("MESSAGES", sql_type)])
    )


def test_chat_model_with_params_resolves_and_validates_params(
    hook, model_registry, submitted, session, new_dataframe
):
    from snowflake.ml.model import openai_signatures
    from snowflake.snowpark.types import StringType

    signature = openai_signatures.OPENAI_CHAT_WITH_PARAMS_SIGNATURE["__call__"]
    model_registry.versions["V1"].show_functions.return_value = [_chat_function(signature)]
    _messages_table(session, new_dataframe, StringType())

    function = hook.resolve_function(hook.get_model_version("iris"), None)
    assert {p.name for p in function.params} >= {"temperature", "response_format", "model"}

    for params, message in [
        (
            {"temperature": "hot"},
            r"params\['temperature'\] = 'hot' does not fit parameter temperature \(DOUBLE\).*Expected int or float",
        ),
        ({"response_format": {"kind": "json"}}, r"Unknown key\(s\) 'kind' in parameter 'response_format'"),
        ({"top_k": 5}, r"Unknown params \['top_k'\]"),
    ]:
        with pytest.raises(InputValidationError, match=message):
            _start(hook, input_table="requests", params=params)
    submitted.run_batch.assert_not_called()

    # A VARCHAR of json.dumps(messages) feeds a batch job, as snowflake-ml's own multimodal tests do.
    _start(
        hook,
        input_table="requests",
        params={"temperature": 0.2, "max_completion_tokens": 64},
        engine="VLLM",
        engine_args_override=("--max-model-len=4096",),
        gpu_requests="1",
    )
    kwargs = submitted.run_batch.call_args.kwargs
    assert kwargs["input_spec"].params == {"temperature": 0.2, "max_completion_tokens": 64}
    assert kwargs["inference_spec"].engine_options.engine_args_override == ["--max-model-len=4096"]
    assert kwargs["resources_spec"].gpu_requests == "1"


def test_chat_model_without_params_takes_settings_as_columns(hook, model_registry, session, new_dataframe):
    from snowflake.ml.model import openai_signatures
    from snowflake.snowpark.types import StringType

    signature = openai_signatures.OPENAI_CHAT_SIGNATURE["__call__"]
    model_registry.versions["V1"].show_functions.return_value = [_chat_function(signature)]
    _messages_table(session, new_dataframe, StringType())
    function = hook.resolve_function(hook.get_model_version("iris"), None)

    assert function.params == ()
    with pytest.raises(InputValidationError, match=r"Unknown params \['temperature'\]"):
        hook.build_batch_job_spec(
            model_name="iris",
            version_name=None,
            function_name=None,
            source=hook.input_source(input_table="requests"),
            compute_pool="pool",
            output_stage_location="@out/preds",
            job_name="job_1",
            params={"temperature": 0.2},
        )
    with pytest.raises(InputValidationError, match=r"missing column 'temperature' \(type DOUBLE\)"):
        hook.validate_input(hook.input_source(input_table="requests"), function, batch=True)


def test_json_text_messages_feed_batch_jobs_but_not_warehouse_inference(
    hook, model_registry, session, new_dataframe
):
    from snowflake.ml.model import openai_signatures
    from snowflake.snowpark.types import ArrayType, StringType

    signature = openai_signatures.OPENAI_CHAT_WITH_PARAMS_SIGNATURE["__call__"]
    model_registry.versions["V1"].show_functions.return_value = [_chat_function(signature)]
    function = hook.resolve_function(hook.get_model_version("iris"), None)
    source = hook.input_source(input_table="requests")

    _messages_table(session, new_dataframe, StringType())
    hook.validate_input(source, function, batch=True)
    with pytest.raises(InputValidationError, match=r"'MESSAGES' has type VARCHAR.*use PARSE_JSON"):
        hook.validate_input(source, function)

    hook.close()  # another task: within one, the input is one DataFrame, described once
    _messages_table(session, new_dataframe, ArrayType())
    hook.validate_input(source, function)
    hook.validate_input(source, function, batch=True)
