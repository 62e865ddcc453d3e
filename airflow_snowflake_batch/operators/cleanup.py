"""Operator that removes old batch inference jobs and their output folders (retention)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator

from airflow_snowflake_batch.exceptions import InvalidArgumentError
from airflow_snowflake_batch.identifiers import DEFAULT_JOB_PREFIX
from airflow_snowflake_batch.utils.arguments import as_int
from airflow_snowflake_batch.utils.connection import (
    CONNECTION_TEMPLATE_FIELDS,
    DEFAULT_CONN_ID,
    SnowflakeConnectionMixin,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

#: The oldest cut-off accepted, in days (100 years): ``now - older_than_days`` must stay a valid datetime
#: (``10**9`` days raised OverflowError), and no job or folder is older than this.
MAX_OLDER_THAN_DAYS = 36_500


class SnowflakeBatchInferenceCleanupOperator(SnowflakeConnectionMixin, BaseOperator):
    """
    Drop finished batch inference jobs and remove job folders older than ``older_than_days``.

    Scheduled scoring leaves a job service and a folder of Parquet files behind every run. This
    operator drops the job services of ``job_schema`` that have ended (``DONE``, ``FAILED``,
    ``CANCELLED``...) and were created more than ``older_than_days`` ago, and removes the job folders
    ``<output_stage_location>/<JOB_NAME>/`` and the input copies ``_snowflake_temporary/<id>/`` whose
    newest file is older than that. Running jobs, and folders a running job writes or may read, are
    never touched; only names starting with ``job_name_prefix`` are candidates. Load the results
    you keep into tables before they age out.

    Returns and pushes (one XCom per key) ``{"dry_run", "dropped_jobs", "removed_folders",
    "kept_running_jobs"}``: in a dry run, what a real run would drop and remove.

    .. seealso::
        :class:`~airflow_snowflake_batch.operators.batch_job.SnowflakeBatchInferenceOperator`, whose
        jobs and folders this removes; the README section on this operator (retention rules, privileges).

    :param output_stage_location: The batch operator's ``output_stage_location``. (templated)
    :param older_than_days: Minimum age, in whole days (1 to 36,500), of the jobs and folders removed.
        (templated)
    :param job_schema: ``SCHEMA`` or ``DATABASE.SCHEMA`` holding the jobs (a job lives in its model's
        schema unless its name was qualified); default: the connection's. (templated)
    :param job_name_prefix: Only jobs and job folders whose names start with this are removed; the
        default ``AIRFLOW_BATCH_`` is how the batch operator names its jobs. (templated)
    :param dry_run: Only report what would be removed.
    :param snowflake_conn_id: Connection, ``snowflake`` or ``snowflake_batch_local`` type. (templated)
    :param database: Database for unqualified names, overriding the connection's. (templated)
    :param schema: Schema for unqualified names, overriding the connection's. (templated)
    :param warehouse: Warehouse overriding the connection's. (templated)
    :param role: Role overriding the connection's. (templated)
    """

    template_fields: Sequence[str] = (
        "output_stage_location",
        "older_than_days",
        "job_schema",
        "job_name_prefix",
        *CONNECTION_TEMPLATE_FIELDS,
    )

    def __init__(
        self,
        *,
        output_stage_location: str,
        older_than_days: int | str = 30,
        job_schema: str | None = None,
        job_name_prefix: str = DEFAULT_JOB_PREFIX,
        dry_run: bool = False,
        snowflake_conn_id: str = DEFAULT_CONN_ID,
        database: str | None = None,
        schema: str | None = None,
        warehouse: str | None = None,
        role: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("multiple_outputs", True)
        super().__init__(**kwargs)
        self.output_stage_location = output_stage_location
        self.older_than_days = older_than_days
        self.job_schema = job_schema
        self.job_name_prefix = job_name_prefix
        # Not "dry_run": BaseOperator.dry_run() is a method (it renders templates without running).
        self.is_dry_run = dry_run
        self.set_connection(snowflake_conn_id, database, schema, warehouse, role)

    def execute(self, context: Context) -> dict[str, Any]:
        # Checked before the hook connects or lists anything.
        days = as_int(self.older_than_days, what="older_than_days", maximum=MAX_OLDER_THAN_DAYS)
        if days is None:
            raise InvalidArgumentError(
                f"older_than_days must be a whole number of days (1 to {MAX_OLDER_THAN_DAYS:,}), got nothing."
            )
        if not isinstance(self.job_name_prefix, str) or not self.job_name_prefix:
            raise InvalidArgumentError(
                "job_name_prefix must be the non-empty start of a job name (letters, digits, _ or $), "
                f"got {self.job_name_prefix!r}; the default {DEFAULT_JOB_PREFIX!r} is how the batch "
                "operator names its jobs."
            )
        if not isinstance(self.is_dry_run, bool):
            raise InvalidArgumentError(f"dry_run must be True or False, got {self.is_dry_run!r}.")
        with self.make_hook(context) as hook:
            plan = hook.plan_cleanup(
                output_stage_location=self.output_stage_location,
                older_than=timedelta(days=days),
                job_schema=self.job_schema,
                job_name_prefix=self.job_name_prefix,
            )
            verb = "Would drop" if self.is_dry_run else "Dropping"
            self.log.info(
                "%s %d finished job(s) and %d folder(s) older than %d day(s); %d running job(s) kept: %s",
                verb,
                len(plan.drop_jobs),
                len(plan.remove_folders),
                days,
                len(plan.kept_running),
                ", ".join(plan.kept_running) or "none",
            )
            if not self.is_dry_run:
                hook.run_cleanup(plan)
        return plan.to_dict(dry_run=self.is_dry_run)
