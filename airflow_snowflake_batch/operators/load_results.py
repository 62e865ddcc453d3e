"""Operator that loads a batch inference job's Parquet results into a table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator

from airflow_snowflake_batch.identifiers import ObjectName
from airflow_snowflake_batch.inference import partitions
from airflow_snowflake_batch.utils import lineage
from airflow_snowflake_batch.utils.assets import annotate_outlet_events
from airflow_snowflake_batch.utils.connection import (
    CONNECTION_TEMPLATE_FIELDS,
    DEFAULT_CONN_ID,
    SnowflakeConnectionMixin,
)

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.sdk import Context

    from airflow_snowflake_batch.backends.base import PartitionValue


class SnowflakeLoadBatchResultsOperator(SnowflakeConnectionMixin, BaseOperator):
    """
    Load the Parquet files of one batch inference job folder into a table.

    Give it the batch operator's output, ``batch_op.output["output_location"]``. Loading is safe to
    repeat: ``append`` loads each file once, ``output_partition`` and ``overwrite`` replace rows
    atomically. A job of an empty input (``_SUCCESS`` and no Parquet file) loads 0 rows.

    Returns and pushes (one XCom per key) ``{"target_table", "rows_loaded"}``. Each
    :class:`~airflow.sdk.Asset` in ``outlets`` gets an event whose ``extra`` holds ``table``, ``rows``,
    ``partition`` and ``source`` (the job folder loaded). In a partitioned run, Airflow (3.2+) gives
    each event the run's partition key itself, so a DAG on ``PartitionedAssetTimetable`` runs once per
    partition loaded.

    .. seealso::
        :class:`~airflow_snowflake_batch.operators.batch_job.SnowflakeBatchInferenceOperator`, whose
        output this loads; the README sections *Lineage* and *Assets*.

    :param output_location: The job's folder, ``@DB.SC.STAGE/path/<JOB_NAME>/``. (templated)
    :param target_table: Table to load into. (templated)
    :param mode: Without ``output_partition``: ``"append"`` adds rows (each file once), ``"overwrite"``
        replaces the table's rows (in one transaction; the table itself stays). With it, only the
        partition's rows are replaced, whatever the mode.
    :param output_partition: Columns and values added to every loaded row, e.g. ``{"DS": "{{ ds }}"}``;
        only that partition's rows are replaced, atomically. Columns the table lacks are added. In a
        mapped task the map index joins the partition as column ``AIRFLOW_MAP_INDEX``, so shards keep
        each other's rows. When None in a run of a partitioned DAG (Airflow 3.2+, e.g. on
        ``CronPartitionTimetable``), the partition is the run's: ``{"AIRFLOW_PARTITION_KEY": <the
        run's partition key>}``; pass ``{}`` to write by ``mode`` instead. (templated)
    :param create_table_if_missing: Create the table from the files' schema when it does not exist.
    :param require_success: Refuse to load a folder without the job's ``_SUCCESS`` marker, unless
        ``job_id`` is given and that job ended DONE (its status then stands in for the marker, logged
        as a WARNING: snowflake-ml documents no ``_SUCCESS``).
    :param job_id: The job that wrote the folder, e.g. ``batch_op.output["job_id"]``; only looked up
        when the folder lacks ``_SUCCESS``. (templated)
    :param snowflake_conn_id: Connection, ``snowflake`` or ``snowflake_batch_local`` type. (templated)
    :param database: Database for unqualified names, overriding the connection's. (templated)
    :param schema: Schema for unqualified names, overriding the connection's. (templated)
    :param warehouse: Warehouse running the load, overriding the connection's. (templated)
    :param role: Role overriding the connection's. (templated)
    """

    template_fields: Sequence[str] = (
        "output_location",
        "target_table",
        "output_partition",
        "job_id",
        *CONNECTION_TEMPLATE_FIELDS,
    )
    template_fields_renderers = {"output_partition": "json"}

    def __init__(
        self,
        *,
        output_location: str,
        target_table: str,
        mode: str = "append",
        output_partition: dict[str, PartitionValue] | None = None,
        create_table_if_missing: bool = True,
        require_success: bool = True,
        job_id: str | None = None,
        snowflake_conn_id: str = DEFAULT_CONN_ID,
        database: str | None = None,
        schema: str | None = None,
        warehouse: str | None = None,
        role: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("multiple_outputs", True)
        super().__init__(**kwargs)
        if mode not in ("append", "overwrite"):
            raise ValueError(f"mode must be 'append' or 'overwrite', got {mode!r}.")
        self.output_location = output_location
        self.target_table = target_table
        self.mode = mode
        self.output_partition = output_partition
        self.create_table_if_missing = create_table_if_missing
        self.require_success = require_success
        self.job_id = job_id
        self.set_connection(snowflake_conn_id, database, schema, warehouse, role)
        self._result: dict[str, Any] | None = None

    def execute(self, context: Context) -> dict[str, Any]:
        partition = partitions.write_partition(self.output_partition, partitions.run_partition_key(context))
        with self.make_hook(context) as hook:
            table, rows = hook.load_results(
                output_location=self.output_location,
                target_table=self.target_table,
                mode=self.mode,  # type: ignore[arg-type]
                output_partition=partition,
                create_table_if_missing=self.create_table_if_missing,
                require_success=self.require_success,
                map_index=context["ti"].map_index,
                job_id=self.job_id or None,
            )
        self.log.info("Loaded %s rows from %s into %s.", rows, self.output_location, table.sql)
        self._result = {"target_table": table.sql, "rows_loaded": rows}
        annotate_outlet_events(
            self,
            context,
            {
                "table": table.sql,
                "rows": rows,
                "partition": dict(partition or {}),
                "source": self.output_location,
            },
        )
        return self._result

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage | None:
        """The job's stage folder → the target table, with the rows loaded."""
        if self._result is None:
            return None
        with self.make_hook(None) as hook:
            return lineage.operator_lineage(
                namespace=hook.openlineage_namespace(),
                inputs=[
                    lineage.stage_dataset_name(
                        hook.parse_location(self.output_location, what="output_location")
                    )
                ],
                outputs=[lineage.table_dataset_name(ObjectName.parse(self._result["target_table"]))],
                output_rows=self._result["rows_loaded"],
            )
