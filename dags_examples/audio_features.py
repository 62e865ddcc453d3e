"""
Extract signal features from a folder of WAV files with a batch inference job, then load them.

The model's only input, ``AUDIO``, is a STRING feature, so ``input_files`` hands it each file as
base64 text (BYTES inputs get raw bytes instead; ``column_handling`` overrides either).

Runs unchanged on Snowflake and on the embedded local workspace: only the ``snowflake_default``
connection differs. Objects it expects (``scripts/media_data.py`` creates them on a local workspace):

- stage ``ML.PUBLIC.MEDIA`` (``SNOWFLAKE_SSE`` encryption) holding ``audio/*.wav``
- model ``ML.PUBLIC.TONES`` version ``V1``: ``predict(AUDIO STRING) -> DOMINANT_HZ, RMS, SECONDS``
- compute pool ``ML_BATCH_POOL`` and internal stage ``ML.PUBLIC.BATCH_OUTPUT`` (``SNOWFLAKE_SSE``)
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_snowflake_batch.operators.batch_job import SnowflakeBatchInferenceOperator
from airflow_snowflake_batch.operators.load_results import SnowflakeLoadBatchResultsOperator

DAG_ID = "audio_features"

with DAG(
    dag_id=DAG_ID,
    description="Signal features of the WAV files of @ML.PUBLIC.MEDIA/audio/ with ML.PUBLIC.TONES.",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["snowflake", "ml", "audio", "example"],
) as dag:
    # [START howto_operator_snowflake_batch_inference_audio]
    analyze_audio = SnowflakeBatchInferenceOperator(
        task_id="analyze_audio",
        model_name="ML.PUBLIC.TONES",
        input_files="@ML.PUBLIC.MEDIA/audio/",
        file_pattern=r".*\.wav",
        compute_pool="ML_BATCH_POOL",
        output_stage_location="@ML.PUBLIC.BATCH_OUTPUT/audio/",
        max_batch_rows=64,
        poll_interval=10,
        snowflake_conn_id="snowflake_default",
    )
    # [END howto_operator_snowflake_batch_inference_audio]

    load_features = SnowflakeLoadBatchResultsOperator(
        task_id="load_features",
        output_location=analyze_audio.output["output_location"],
        target_table="ML.PUBLIC.AUDIO_FEATURES",
        mode="overwrite",
        snowflake_conn_id="snowflake_default",
    )
