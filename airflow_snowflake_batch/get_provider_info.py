"""Provider metadata read by ``airflow providers``; kept tiny because every Airflow component imports it."""

from __future__ import annotations

from typing import Any

from airflow_snowflake_batch.constants import LOCAL_CONN_TYPE

#: The fields of a ``snowflake_batch_local`` connection (stored in its extra), for the connection form.
LOCAL_CONNECTION_FIELDS: dict[str, dict[str, str]] = {
    "workspace": {
        "label": "Workspace",
        "description": "Folder of the local workspace (LocalWorkspace(path)); it plays a Snowflake account.",
        "placeholder": "/path/to/workspace",
    },
    "database": {
        "label": "Database",
        "description": "Database of unqualified names (default ML).",
        "placeholder": "ML",
    },
    "schema": {
        "label": "Schema",
        "description": "Schema of unqualified names (default PUBLIC).",
        "placeholder": "PUBLIC",
    },
}
#: Standard connection fields a local workspace does not use.
LOCAL_HIDDEN_FIELDS = ("host", "schema", "login", "password", "port")


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
                    "airflow_snowflake_batch.operators.cleanup",
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
                "connection-type": LOCAL_CONN_TYPE,
                "hook-class-name": "airflow_snowflake_batch.hooks.batch_inference.SnowflakeBatchInferenceHook",
                "hook-name": "Snowflake Batch Inference (local workspace)",
                # Airflow 3.2+ builds the connection form from these without importing the hook.
                "conn-fields": {
                    name: {
                        "label": field["label"],
                        "description": field["description"],
                        "schema": {"type": ["string", "null"]},
                    }
                    for name, field in LOCAL_CONNECTION_FIELDS.items()
                },
                "ui-field-behaviour": {
                    "hidden-fields": list(LOCAL_HIDDEN_FIELDS),
                    "relabeling": {},
                    "placeholders": {
                        name: field["placeholder"] for name, field in LOCAL_CONNECTION_FIELDS.items()
                    },
                },
            }
        ],
        "extra-links": ["airflow_snowflake_batch.links.SnowflakeBatchJobLink"],
        # Read only with [core] lazy_discover_providers = False; the airflow.plugins entry point
        # (pyproject.toml) loads it otherwise, as for Airflow's own providers (OpenLineage).
        "plugins": [
            {
                "name": "snowflake_batch",
                "plugin-class": "airflow_snowflake_batch.plugins.provider_plugin.SnowflakeBatchPlugin",
            }
        ],
    }
