"""OpenLineage datasets and facets of the operators, built only when the OpenLineage provider is installed.

Naming follows the OpenLineage Snowflake convention, as the Snowflake provider's operators emit it:
namespace ``snowflake://<account>`` (the account as the Snowflake provider normalizes it), dataset names
``DB.SCHEMA.TABLE`` as stored (unquoted names upper-case). A stage folder is a dataset of the same
namespace named ``DB.SCHEMA.STAGE/path``. A local workspace uses the namespace ``snowflake://local``.

Nothing here imports OpenLineage at module level: :func:`operator_lineage` imports it and returns None
when the ``[openlineage]`` extra is not installed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_snowflake_batch.exceptions import InvalidIdentifierError
from airflow_snowflake_batch.identifiers import ObjectName

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage

    from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook
    from airflow_snowflake_batch.identifiers import StageLocation

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelUsed:
    """The Model Registry model version that scored the data (the ``snowflakeModel`` run facet)."""

    name: str  # DB.SCHEMA.MODEL
    version: str | None  # None: the model's default version, not resolved by this task
    function: str | None


def table_dataset_name(table: ObjectName) -> str:
    """``DB.SCHEMA.TABLE`` with each part as stored.

    >>> table_dataset_name(ObjectName.parse('db.sc."Scores"'))
    'DB.SC.Scores'
    """
    return ".".join(p.value for p in (table.database, table.schema, table.name) if p is not None)


def stage_dataset_name(location: StageLocation) -> str:
    """``DB.SCHEMA.STAGE/path`` (no ``@``, no trailing ``/``).

    >>> from airflow_snowflake_batch.identifiers import StageLocation
    >>> stage_dataset_name(StageLocation.parse("@db.sc.out/preds/JOB_1/"))
    'DB.SC.OUT/preds/JOB_1'
    """
    return f"{table_dataset_name(location.stage)}/{location.path}".rstrip("/")


def query_tables(query: str) -> list[ObjectName]:
    """The tables a query reads (CTE names excluded), as written; [] when sqlglot cannot parse it.

    >>> [t.sql for t in query_tables("WITH a AS (SELECT * FROM sc.t1) SELECT * FROM a JOIN db.sc.t2 USING (id)")]
    ['DB.SC.T2', 'SC.T1']
    """
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(query, read="snowflake")
    except sqlglot.errors.ParseError as exc:
        log.info("OpenLineage: cannot parse the input query, so its tables are not reported: %s", exc)
        return []
    ctes = {cte.alias_or_name.upper() for cte in tree.find_all(exp.CTE)}
    found: dict[str, ObjectName] = {}
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier) or (not table.db and table.name.upper() in ctes):
            continue
        try:
            name = ObjectName.parse(exp.table_name(table, dialect="snowflake"), what="table in input_query")
        except InvalidIdentifierError:
            continue
        found.setdefault(name.sql, name)
    return [found[k] for k in sorted(found)]


def source_dataset_names(
    hook: SnowflakeBatchInferenceHook,
    *,
    input_table: str | None = None,
    input_query: str | None = None,
    input_stage_location: str | None = None,
    input_files: str | None = None,
) -> list[str]:
    """The datasets an operator's input reads: its table, the tables of its query, or its stage folder.

    ``input_files`` reads its stage folder (whatever ``file_pattern`` selects in it): that folder is the
    dataset, as for ``input_stage_location``. It is parsed, not listed, so lineage costs no ``LIST``.
    """
    source = hook.input_source(
        input_table=input_table,
        input_query=input_query,
        input_stage_location=input_stage_location,
        input_files=input_files,
    )
    if source.files is not None:
        return [stage_dataset_name(source.files.location)]
    if source.table is not None:
        return [table_dataset_name(source.table)]
    if source.stage_location is not None:
        return [stage_dataset_name(source.stage_location)]
    return [
        table_dataset_name(hook.qualify(t, what="table in input_query"))
        for t in query_tables(source.query or "")
    ]


def operator_lineage(
    *,
    namespace: str,
    inputs: list[str],
    outputs: list[str],
    model: ModelUsed | None = None,
    job_id: str | None = None,
    output_rows: int | None = None,
    cost: dict[str, Any] | None = None,
) -> OperatorLineage | None:
    """The ``OperatorLineage`` of one task, or None without the OpenLineage provider."""
    try:
        from airflow.providers.common.compat.openlineage.facet import (
            ExternalQueryRunFacet,
            InputDataset,
            OutputDataset,
            OutputStatisticsOutputDatasetFacet,
        )
        from airflow.providers.openlineage.extractors import OperatorLineage

        from airflow_snowflake_batch.utils.openlineage_facets import (
            SnowflakeModelRunFacet,
            SnowflakeRunCostFacet,
        )
    except ImportError:
        return None

    output_facets: dict[str, Any] = {}
    if output_rows is not None:
        output_facets["outputStatistics"] = OutputStatisticsOutputDatasetFacet(rowCount=output_rows)
    run_facets: dict[str, object] = {}
    if model is not None:
        run_facets["snowflakeModel"] = SnowflakeModelRunFacet(
            name=model.name, version=model.version, function=model.function
        )
    if cost is not None:
        run_facets["snowflakeRunCost"] = SnowflakeRunCostFacet(
            reused=bool(cost.get("reused", False)),
            wallSeconds=cost.get("wall_seconds"),
            cpuSeconds=cost.get("cpu_seconds"),
            source=str(cost.get("source", "")),
            warehouseSize=cost.get("warehouse_size"),
            computePool=cost.get("compute_pool"),
            instanceFamily=cost.get("instance_family"),
            estimatedCredits=cost.get("estimated_credits"),
            creditsSource=cost.get("credits_source"),
        )
    if job_id is not None:
        run_facets["externalQuery"] = ExternalQueryRunFacet(externalQueryId=job_id, source=namespace)
    return OperatorLineage(
        inputs=[InputDataset(namespace=namespace, name=name) for name in inputs],
        outputs=[
            OutputDataset(namespace=namespace, name=name, outputFacets=output_facets) for name in outputs
        ],
        run_facets=run_facets,
    )
