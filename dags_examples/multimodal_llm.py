"""
Ask a vision LLM about stage images: a batch inference job on a GPU compute pool, served by vLLM,
over OpenAI-style chat messages whose image URLs are stage paths.

Written for Snowflake: the model is a Hugging Face vision-language model (e.g. ``Qwen/Qwen2-VL-2B-Instruct``)
logged with ``openai_signatures.OPENAI_CHAT_WITH_PARAMS_SIGNATURE``, so generation settings go in
``model_params`` and are checked against the signature before the job is submitted. Each row of
``ML.PUBLIC.CAPTION_REQUESTS`` holds one conversation in ``MESSAGES``, as JSON text
(``json.dumps(messages)``, what batch jobs accept) or a structured ARRAY; an image part looks like
``{"type": "image_url", "image_url": {"url": "@ML.PUBLIC.MEDIA/digits/digit_000.png"}}`` and the job
hands the model that file's content.

On the local workspace the same DAG runs with a stand-in chat model (``scripts/media_data.py``):
the vLLM engine, GPU request and compute pool are accepted and ignored there. Objects it expects:

- table ``ML.PUBLIC.CAPTION_REQUESTS``: IMAGE_PATH, MESSAGES
- model ``ML.PUBLIC.VISION_CHAT`` version ``V1`` (the OpenAI chat signature with params)
- stage ``ML.PUBLIC.MEDIA`` with the images, GPU compute pool ``ML_GPU_POOL``, internal stage
  ``ML.PUBLIC.BATCH_OUTPUT`` (``SNOWFLAKE_SSE``: multimodal jobs need server-side encryption)
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from airflow_snowflake_batch.operators.batch_job import SnowflakeBatchInferenceOperator
from airflow_snowflake_batch.operators.load_results import SnowflakeLoadBatchResultsOperator

DAG_ID = "multimodal_llm"

with DAG(
    dag_id=DAG_ID,
    description="Caption stage images with a vision LLM (vLLM on a GPU pool) in a batch job.",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["snowflake", "ml", "llm", "example"],
) as dag:
    # [START howto_operator_snowflake_batch_inference_llm]
    caption_images = SnowflakeBatchInferenceOperator(
        task_id="caption_images",
        model_name="ML.PUBLIC.VISION_CHAT",
        version_name="V1",
        input_query="SELECT IMAGE_PATH, MESSAGES FROM ML.PUBLIC.CAPTION_REQUESTS",
        # Generation settings: the signature's params (unknown names or wrong types fail before submit).
        model_params={"temperature": 0.2, "max_completion_tokens": 128},
        engine="VLLM",
        engine_args_override=["--max-model-len=4096", "--gpu-memory-utilization=0.9"],
        resources={"gpu": "1", "memory": "24Gi"},
        compute_pool="ML_GPU_POOL",
        output_stage_location="@ML.PUBLIC.BATCH_OUTPUT/captions/",
        deferrable=True,
        poll_interval=30,
        timeout=timedelta(hours=3),
        snowflake_conn_id="snowflake_default",
    )
    # [END howto_operator_snowflake_batch_inference_llm]

    load_captions = SnowflakeLoadBatchResultsOperator(
        task_id="load_captions",
        output_location=caption_images.output["output_location"],
        target_table="ML.PUBLIC.IMAGE_CAPTIONS",
        mode="overwrite",
        snowflake_conn_id="snowflake_default",
    )
