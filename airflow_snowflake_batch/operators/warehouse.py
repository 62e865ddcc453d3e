"""Operator that scores a table or query on a warehouse (``ModelVersion.run()``) into a table."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator

from airflow_snowflake_batch.identifiers import ObjectName
from airflow_snowflake_batch.inference import partitions
from airflow_snowflake_batch.inference.fingerprint import check_rescore
from airflow_snowflake_batch.inference.inputs import empty_for
from airflow_snowflake_batch.utils import lineage
from airflow_snowflake_batch.utils.arguments import check_model_params_given
from airflow_snowflake_batch.utils.assets import annotate_outlet_events
from airflow_snowflake_batch.utils.connection import (
    CONNECTION_TEMPLATE_FIELDS,
    DEFAULT_CONN_ID,
    SnowflakeConnectionMixin,
)
from airflow_snowflake_batch.utils.cost import run_cost, warehouse_estimate

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.sdk import Context

    from airflow_snowflake_batch.backends.base import PartitionValue, TableMode


class SnowflakeWarehouseInferenceOperator(SnowflakeConnectionMixin, BaseOperator):
    """
    Score a table or query with a Model Registry model on a warehouse and save the result in a table.

    The scoring runs server-side (``SELECT ..., MODEL(...)!PREDICT(...)``): no rows pass through the
    worker. Input columns are checked against the function's signature before anything is written.

    Returns and pushes (one XCom per key) ``{"output_table", "rows_written", "model_version", "reused",
    "cost"}``. Each :class:`~airflow.sdk.Asset` in ``outlets`` (e.g.
    ``Asset("snowflake://<account>/DB/SCHEMA/TABLE")``) gets an event whose ``extra`` holds ``table``,
    ``rows``, ``partition``, ``model``, ``model_version`` and ``reused``, so a DAG scheduled on the asset
    knows which day's scores landed and which model made them.

    A rerun rescores only what changed (docs/rescoring.rst): a partition already scored by the same model
    version, function and options from the same input rows is kept, with a WARNING, ``reused: true`` and
    no scoring.

    In a partitioned run, Airflow (3.2+) gives each event the run's partition key itself, so a DAG on
    ``PartitionedAssetTimetable`` runs once per partition scored.

    .. seealso::
        :class:`~airflow_snowflake_batch.operators.batch_job.SnowflakeBatchInferenceOperator` to score on
        SPCS instead; the README sections *Lineage* and *Assets*.

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
        partition as column ``AIRFLOW_MAP_INDEX``, so shards keep each other's rows. When None in a
        run of a partitioned DAG (Airflow 3.2+, e.g. on ``CronPartitionTimetable``), the partition is
        the run's: ``{"AIRFLOW_PARTITION_KEY": <the run's partition key>}``; pass ``{}`` to write by
        ``output_mode`` instead. (templated)
    :param model_params: Inference parameters of the model function, e.g. ``{"temperature": 0.2}``, sent
        to the model as given. ``{}`` runs the model with its defaults. A value may be a template, e.g.
        ``{"temperature": "{{ params.temperature }}"}`` so a DAG ``Param`` picks it at trigger time; it
        renders as text unless the DAG sets ``render_template_as_native_obj=True``. (templated)
    :param params: Airflow's own task params (merged with the DAG's), for templates; never sent to the
        model. While ``model_params`` is not given, a ``params`` key naming a parameter of the model
        function fails the task before anything is written (earlier releases sent ``params`` to the
        model): pass ``model_params`` (``{}`` for the model's defaults) to choose.
    :param partition_column: Column partitioning the input of a table function. (templated)
    :param strict_input_validation: Require input column types to match the signature exactly.
    :param fail_on_empty_input: Fail, before anything is written, when the input has no rows (counted in
        the query that checks NULLs, or one ``COUNT(*)``). By default an empty input writes 0 rows (with
        ``output_partition``, the partition is emptied) and the task succeeds with a WARNING naming the
        input and the partition.
    :param rescore: ``"if_changed"`` (default): keep a partition (or, with ``overwrite``, the table)
        whose record in ``AIRFLOW_SCORING_RUNS`` shows it was scored from the same input rows
        (``HASH_AGG`` and row count), model version, function and options; score it otherwise.
        ``"always"``: score every time. ``append`` without ``output_partition`` always scores.
    :param snowflake_conn_id: Connection, ``snowflake`` or ``snowflake_batch_local`` type. (templated)
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
        "model_params",
        "partition_column",
        *CONNECTION_TEMPLATE_FIELDS,
    )
    template_ext: Sequence[str] = (".sql",)
    template_fields_renderers = {"input_query": "sql", "output_partition": "json", "model_params": "json"}

    def __init__(
        self,
        *,
        model_name: str,
        version_name: str | None = None,
        function_name: str | None = None,
        input_table: str | None = None,
        input_query: str | None = None,
        output_table: str,
        output_mode: TableMode = "overwrite",
        output_partition: dict[str, PartitionValue] | None = None,
        model_params: Mapping[str, Any] | None = None,
        params: MutableMapping[str, Any] | None = None,
        partition_column: str | None = None,
        strict_input_validation: bool = False,
        fail_on_empty_input: bool = False,
        rescore: str = "if_changed",
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
        self.model_params = model_params
        self.partition_column = partition_column
        self.strict_input_validation = strict_input_validation
        self.fail_on_empty_input = fail_on_empty_input
        self.rescore = check_rescore(rescore)
        self.set_connection(snowflake_conn_id, database, schema, warehouse, role)
        self._result: dict[str, Any] | None = None

    def execute(self, context: Context) -> dict[str, Any]:
        partition = partitions.write_partition(self.output_partition, partitions.run_partition_key(context))
        with self.make_hook(context) as hook:
            if self.model_params is None and self.params:
                # Asks the registry once more, only for a task that may still use params the old way.
                model = hook.get_model_version(self.model_name, self.version_name)
                function = hook.resolve_function(model, self.function_name)
                check_model_params_given(self.model_params, self.params, function, task=self.task_id)
            source = hook.input_source(input_table=self.input_table, input_query=self.input_query)
            scoring = hook.run_warehouse_scoring(
                rescore=self.rescore,
                model_name=self.model_name,
                version_name=self.version_name,
                function_name=self.function_name,
                source=source,
                output_table=self.output_table,
                output_mode=self.output_mode,
                output_partition=partition,
                params=dict(self.model_params or {}),
                partition_column=self.partition_column,
                strict_input_validation=self.strict_input_validation,
                map_index=context["ti"].map_index,
                require_rows=self.fail_on_empty_input,
            )
        table, rows, model = scoring.table, scoring.rows, scoring.model
        cost = run_cost(
            wall_seconds=scoring.wall_seconds,
            cpu_seconds=scoring.cpu_seconds,
            reused=scoring.reused,
            **warehouse_estimate(scoring.warehouse_size, scoring.wall_seconds),
        )
        if scoring.reused:
            self.log.warning("Not scoring %s again: %s.", table.sql, scoring.reason)
        elif rows == 0:
            self.log.warning(
                "The %s had no rows%s: wrote 0 rows to %s. Set fail_on_empty_input=True to fail instead.",
                source.description,
                empty_for(partition),
                table.sql,
            )
        else:
            if scoring.reason:
                self.log.info("Scoring %s: %s.", table.sql, scoring.reason)
            self.log.info("Wrote %s rows scored by %s to %s.", rows, model.display, table.sql)
        self.log.info("Cost: %s", cost)
        self._result = {
            "output_table": table.sql,
            "rows_written": 0 if scoring.reused else rows,
            "model_version": model.version.value,
            "reused": scoring.reused,
            "cost": cost,
        }
        annotate_outlet_events(
            self,
            context,
            {
                "table": table.sql,
                "rows": rows,
                "partition": dict(partition or {}),
                "model": model.model.sql,
                "model_version": model.version.value,
                "reused": scoring.reused,
            },
        )
        return self._result

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage | None:
        """The input table (or the tables the query reads) → the output table, with the model and row count."""
        if self._result is None:
            return None
        with self.make_hook(None) as hook:
            return lineage.operator_lineage(
                namespace=hook.openlineage_namespace(),
                inputs=lineage.source_dataset_names(
                    hook, input_table=self.input_table, input_query=self.input_query
                ),
                outputs=[lineage.table_dataset_name(ObjectName.parse(self._result["output_table"]))],
                model=lineage.ModelUsed(
                    name=lineage.table_dataset_name(hook.qualify(self.model_name, what="model_name")),
                    version=self._result["model_version"],
                    function=self.function_name,
                ),
                output_rows=self._result["rows_written"],
                cost=self._result["cost"],
            )
