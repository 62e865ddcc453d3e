"""
Classify a folder of images with a batch inference job: one row per PNG file, its bytes handed to the
model, then the predictions loaded next to each file's stage path.

``input_files`` builds the job's input itself (no table of paths to maintain): each file matching
``file_pattern`` becomes a row whose ``IMAGE`` column holds its full stage path. The model's only
BYTES input receives the file's raw bytes; the path stays in the results, so they join back to the files.

Runs unchanged on Snowflake and on the embedded local workspace: only the ``snowflake_default``
connection differs. Objects it expects (``scripts/media_data.py`` creates them on a local workspace):

- stage ``ML.PUBLIC.MEDIA`` (``SNOWFLAKE_SSE`` encryption) holding ``digits/*.png``
- model ``ML.PUBLIC.DIGITS`` version ``V1``: ``predict(IMAGE BYTES) -> DIGIT``
- compute pool ``ML_BATCH_POOL`` and internal stage ``ML.PUBLIC.BATCH_OUTPUT`` (``SNOWFLAKE_SSE``)
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from airflow_snowflake_batch.operators.batch_job import SnowflakeBatchInferenceOperator
from airflow_snowflake_batch.operators.load_results import SnowflakeLoadBatchResultsOperator

DAG_ID = "image_classification"

with DAG(
    dag_id=DAG_ID,
    description="Classify the PNG images of @ML.PUBLIC.MEDIA/digits/ with ML.PUBLIC.DIGITS.",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"retries": 1, "retry_delay": timedelta(minutes=2)},
    tags=["snowflake", "ml", "images", "example"],
) as dag:
    # [START howto_operator_snowflake_batch_inference_files]
    classify_images = SnowflakeBatchInferenceOperator(
        task_id="classify_images",
        model_name="ML.PUBLIC.DIGITS",
        version_name="V1",
        input_files="@ML.PUBLIC.MEDIA/digits/",
        file_pattern=r".*\.png",
        # The model's IMAGE input is BYTES, so each file arrives as raw bytes; these lines say so
        # explicitly (they are the default and could be left out).
        column_handling={"IMAGE": {"input_format": "full_stage_path", "convert_to": "raw_bytes"}},
        compute_pool="ML_BATCH_POOL",
        output_stage_location="@ML.PUBLIC.BATCH_OUTPUT/digits/",
        poll_interval=10,
        timeout=timedelta(hours=1),
        snowflake_conn_id="snowflake_default",
    )
    # [END howto_operator_snowflake_batch_inference_files]

    load_predictions = SnowflakeLoadBatchResultsOperator(
        task_id="load_predictions",
        output_location=classify_images.output["output_location"],
        target_table="ML.PUBLIC.DIGIT_PREDICTIONS",
        mode="overwrite",
        snowflake_conn_id="snowflake_default",
    )
