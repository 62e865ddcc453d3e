"""The connection arguments every operator and the sensor take, and the hook built from them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_snowflake_batch.constants import DEFAULT_CONN_ID
from airflow_snowflake_batch.utils.arguments import task_query_tag

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook

# DEFAULT_CONN_ID is re-exported for the operators and sensor: a leaf constant, not read from the hook,
# so DAG files can use the operators without importing the hook (and with it the Snowflake provider's
# hook, requests, cryptography...), which only a running task needs.

#: Template fields of the connection and its overrides, appended to each task's own. The connection id
#: is templated as in the Snowflake provider (e.g. ``"{{ var.value.scoring_conn }}"``).
__all__ = ["CONNECTION_TEMPLATE_FIELDS", "DEFAULT_CONN_ID", "SnowflakeConnectionMixin"]

CONNECTION_TEMPLATE_FIELDS = ("snowflake_conn_id", "database", "schema", "warehouse", "role")


class SnowflakeConnectionMixin:
    """Holds ``snowflake_conn_id`` and the database/schema/warehouse/role overrides of a task.

    Mixed into operators and sensors (before ``BaseOperator``); their ``__init__`` calls
    :meth:`set_connection` with their own arguments, so each keeps an explicit, documented signature.
    """

    snowflake_conn_id: str
    database: str | None
    schema: str | None
    warehouse: str | None
    role: str | None

    def set_connection(
        self,
        snowflake_conn_id: str,
        database: str | None,
        schema: str | None,
        warehouse: str | None,
        role: str | None,
    ) -> None:
        self.snowflake_conn_id = snowflake_conn_id
        self.database = database
        self.schema = schema
        self.warehouse = warehouse
        self.role = role

    def hook_params(self, context: Context | None) -> dict[str, Any]:
        """The hook's keyword arguments (JSON-safe, so a trigger can carry them)."""
        return {
            "database": self.database,
            "schema": self.schema,
            "warehouse": self.warehouse,
            "role": self.role,
            "query_tag": task_query_tag(context) if context else None,
        }

    def make_hook(self, context: Context | None) -> SnowflakeBatchInferenceHook:
        """A new hook for this task; its session carries the task's ``QUERY_TAG`` when ``context`` is given."""
        from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook

        return SnowflakeBatchInferenceHook(
            snowflake_conn_id=self.snowflake_conn_id, **self.hook_params(context)
        )
