"""Sensor that waits for a batch inference job submitted elsewhere (e.g. ``wait_for_completion=False``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowSensorTimeout, BaseSensorOperator, conf

from airflow_snowflake_batch.triggers.events import BatchJobEvent, BatchJobOutcome
from airflow_snowflake_batch.utils.connection import (
    CONNECTION_TEMPLATE_FIELDS,
    DEFAULT_CONN_ID,
    SnowflakeConnectionMixin,
)
from airflow_snowflake_batch.utils.job_wait import defer_timeout, end_wait, job_deadline

if TYPE_CHECKING:
    from airflow.sdk import Context


class SnowflakeBatchInferenceJobSensor(SnowflakeConnectionMixin, BaseSensorOperator):
    """
    Wait until a batch inference job ends; fail when it ends FAILED, CANCELLED or INTERNAL_ERROR.

    The sensor only watches: it never cancels the job, not on timeout and not when killed.
    The job's logs are copied into the task log when it ends. ``poke_interval`` is also the
    trigger's poll interval; when deferred, ``timeout`` and ``execution_timeout`` still apply.

    :param job_id: Job id, e.g. ``{{ ti.xcom_pull(task_ids='score', key='job_id') }}``. (templated)
    :param deferrable: Wait on the triggerer instead of poking. Default: ``[operators] default_deferrable``.
    :param snowflake_conn_id: Connection, ``snowflake`` or ``snowflake_batch_local`` type.
    :param database: Database for an unqualified job id, overriding the connection's. (templated)
    :param schema: Schema for an unqualified job id, overriding the connection's. (templated)
    :param warehouse: Warehouse overriding the connection's. (templated)
    :param role: Role overriding the connection's. (templated)
    """

    template_fields: Sequence[str] = ("job_id", *CONNECTION_TEMPLATE_FIELDS)

    def __init__(
        self,
        *,
        job_id: str,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        snowflake_conn_id: str = DEFAULT_CONN_ID,
        database: str | None = None,
        schema: str | None = None,
        warehouse: str | None = None,
        role: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job_id = job_id
        self.deferrable = deferrable
        self.set_connection(snowflake_conn_id, database, schema, warehouse, role)

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        if self.poke(context):
            return None
        # Imported here: DAG files import this module at every parse, and only deferring needs the trigger.
        from airflow_snowflake_batch.triggers.batch_job import SnowflakeBatchInferenceJobTrigger

        deadline = job_deadline(context, self.timeout, self.execution_timeout)
        self.defer(
            trigger=SnowflakeBatchInferenceJobTrigger(
                job_id=self.job_id,
                snowflake_conn_id=self.snowflake_conn_id,
                poll_interval=self.poke_interval,
                deadline=deadline,
                cancel_on_timeout=False,
                cancel_on_kill=False,
                hook_params=self.hook_params(context),
            ),
            method_name="execute_complete",
            timeout=defer_timeout(deadline, self.poke_interval),
        )

    def poke(self, context: Context) -> bool:
        with self.make_hook(context) as hook:
            state = hook.get_job_state(self.job_id)
            self.log.info("Batch inference job %s is %s.", state.job_id, state.status.value)
            if not state.status.is_terminal:
                return False
            end_wait(hook, BatchJobEvent.from_state(state), log=self.log)
        return True

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> None:
        parsed = BatchJobEvent.from_dict(event, task=f"Sensor {self.task_id}")
        if parsed.outcome is BatchJobOutcome.TIMEOUT:
            raise AirflowSensorTimeout(f"Sensor {self.task_id} timed out waiting for job {parsed.job_id}.")
        with self.make_hook(context) as hook:
            end_wait(hook, parsed, log=self.log)
