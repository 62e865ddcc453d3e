"""Operator that scores a table or query on a warehouse (``ModelVersion.run()``) into a table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator

from airflow_snowflake_batch.utils.arguments import model_params
from airflow_snowflake_batch.utils.connection import (
    CONNECTION_TEMPLATE_FIELDS,
    DEFAULT_CONN_ID,
    SnowflakeConnectionMixin,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_snowflake_batch.backends.base import PartitionValue


class SnowflakeWarehouseInferenceOperator(SnowflakeConnectionMixin, BaseOperator):
    """
    Score a table or query with a Model Registry model on a warehouse and save the result in a table.

    The scoring runs server-side (``SELECT ..., MODEL(...)!PREDICT(...)``): no rows pass through the
    worker. Input columns are checked against the function's signature before anything is written.

    Returns and pushes (one XCom per key) ``{"output_table", "rows_written", "model_version"}``.

    :param model_name: Registry model, ``NAME``, ``SCHEMA.NAME`` or ``DB.SCHEMA.NAME``. (templated)
    :param version_name: Version or alias; None uses the model's default version. (templated)
    :param function_name: Model function, e.g. ``predict``; needed when the model has several. (templated)
    :param input_table: Table to score; give exactly one of ``input_table`` and ``input_query``. (templated)
    :param input_query: SELECT to score, or a path to a ``.sql`` file. (templated)
    :param output_table: Table receiving the inputs plus the model's outputs. (templated)
    :param output_mode: Without ``output_partition``: ``"overwrite"`` replaces the table's rows (in one
        transaction; the table itself stays), ``"append"`` adds to them. With it, only the partition's
        rows are replaced, whatever the mode.
    :param output_partition: Columns and values added to every output row, e.g. ``{"DS": "{{ ds }}"}``;
        only that partition's rows are replaced, atomically, so reruns do not duplicate and other
        partitions stay. Columns the table lacks are added. In a mapped task the map index joins the
        partition as column ``AIRFLOW_MAP_INDEX``, so shards keep each other's rows. (templated)
    :param params: Inference parameters of the model function. These are the model's parameters;
        Airflow's DAG-level ``params`` stay available to templates as usual.
    :param partition_column: Column partitioning the input of a table function. (templated)
    :param strict_input_validation: Require input column types to match the signature exactly.
    :param snowflake_conn_id: Connection, ``snowflake`` or ``snowflake_batch_local`` type.
    :param database: Database for unqualified names, overriding the connection's. (templated)
    :param schema: Schema for unqualified names, overriding the connection's. (templated)
    :param warehouse: Warehouse running the inference, overriding the connection's. (templated)
    :param role: Role overriding the connection's. (templated)
    """

    template_fields: Sequence[str] = (
        "model_name",
        "version_name",
        "function_name",
        "input_table",
        "input_query",
        "output_table",
        "output_partition",
        "partition_column",
        *CONNECTION_TEMPLATE_FIELDS,
    )
    template_ext: Sequence[str] = (".sql",)
    template_fields_renderers = {"input_query": "sql", "output_partition": "json"}

    def __init__(
        self,
        *,
        model_name: str,
        version_name: str | None = None,
        function_name: str | None = None,
        input_table: str | None = None,
        input_query: str | None = None,
        output_table: str,
        output_mode: str = "overwrite",
        output_partition: dict[str, PartitionValue] | None = None,
        params: Mapping[str, Any] | None = None,
        partition_column: str | None = None,
        strict_input_validation: bool = False,
        snowflake_conn_id: str = DEFAULT_CONN_ID,
        database: str | None = None,
        schema: str | None = None,
        warehouse: str | None = None,
        role: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("multiple_outputs", True)
        super().__init__(params=params, **kwargs)
        if output_mode not in ("overwrite", "append"):
            raise ValueError(f"output_mode must be 'overwrite' or 'append', got {output_mode!r}.")
        self.model_name = model_name
        self.version_name = version_name
        self.function_name = function_name
        self.input_table = input_table
        self.input_query = input_query
        self.output_table = output_table
        self.output_mode = output_mode
        self.output_partition = output_partition
        self.inference_params = model_params(params, self.get_dag())
        self.partition_column = partition_column
        self.strict_input_validation = strict_input_validation
        self.set_connection(snowflake_conn_id, database, schema, warehouse, role)

    def execute(self, context: Context) -> dict[str, Any]:
        with self.make_hook(context) as hook:
            table, rows, model = hook.run_warehouse_inference(
                model_name=self.model_name,
                version_name=self.version_name,
                function_name=self.function_name,
                source=hook.input_source(input_table=self.input_table, input_query=self.input_query),
                output_table=self.output_table,
                output_mode=self.output_mode,  # type: ignore[arg-type]
                output_partition=self.output_partition,
                params=self.inference_params,
                partition_column=self.partition_column,
                strict_input_validation=self.strict_input_validation,
                map_index=context["ti"].map_index,
            )
        self.log.info("Wrote %s rows scored by %s to %s.", rows, model.display, table.sql)
        return {"output_table": table.sql, "rows_written": rows, "model_version": model.version.value}
