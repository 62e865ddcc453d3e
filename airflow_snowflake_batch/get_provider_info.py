"""Provider metadata read by ``airflow providers``; kept tiny because every Airflow component imports it."""

from __future__ import annotations

from typing import Any


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-snowflake-batch",
        "name": "Snowflake Batch Inference",
        "description": "Score data with Snowflake Model Registry models: warehouse inference and SPCS "
        "batch inference jobs, with an embedded local backend for development and tests.",
        "integrations": [
            {
                "integration-name": "Snowflake Batch Inference",
                "external-doc-url": "https://docs.snowflake.com/en/developer-guide/snowflake-ml/inference/batch",
                "tags": ["service"],
            }
        ],
        "operators": [
            {
                "integration-name": "Snowflake Batch Inference",
                "python-modules": [
                    "airflow_snowflake_batch.operators.warehouse",
                    "airflow_snowflake_batch.operators.batch_job",
                    "airflow_snowflake_batch.operators.load_results",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": "Snowflake Batch Inference",
                "python-modules": ["airflow_snowflake_batch.sensors.batch_job"],
            }
        ],
        "hooks": [
            {
                "integration-name": "Snowflake Batch Inference",
                "python-modules": ["airflow_snowflake_batch.hooks.batch_inference"],
            }
        ],
        "triggers": [
            {
                "integration-name": "Snowflake Batch Inference",
                "python-modules": ["airflow_snowflake_batch.triggers.batch_job"],
            }
        ],
        "connection-types": [
            {
                "connection-type": "snowflake_batch_local",
                "hook-class-name": "airflow_snowflake_batch.hooks.batch_inference.SnowflakeBatchInferenceHook",
                "hook-name": "Snowflake Batch Inference (local workspace)",
            }
        ],
        "extra-links": ["airflow_snowflake_batch.links.SnowflakeBatchJobLink"],
    }
