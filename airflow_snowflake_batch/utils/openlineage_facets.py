"""The provider's own OpenLineage facet. Importing this module needs the OpenLineage provider installed:
only :func:`airflow_snowflake_batch.utils.lineage.operator_lineage` imports it, inside a ``try``.
"""

from __future__ import annotations

from attrs import define
from openlineage.client.facet_v2 import RunFacet


@define
class SnowflakeModelRunFacet(RunFacet):
    """The Snowflake Model Registry model version that scored the data.

    :param name: The model, ``DB.SCHEMA.MODEL``.
    :param version: The version that ran; None when the task asked for the default version and did
        not resolve it itself.
    :param function: The model function, e.g. ``PREDICT``; None when the model has only one.
    """

    name: str
    version: str | None = None
    function: str | None = None


@define
class SnowflakeRunCostFacet(RunFacet):
    """What the run cost (:mod:`airflow_snowflake_batch.utils.cost`), and whether it reused earlier scores.

    :param reused: Nothing was scored: the output already held this run's scores (``rescore``).
    :param wallSeconds: The worker's wall-clock seconds of the scoring call.
    :param cpuSeconds: The worker process's CPU seconds over the same call.
    :param source: How the figures were obtained.
    :param warehouseSize: The warehouse's size (warehouse runs on Snowflake).
    :param computePool: The compute pool a batch job ran on (Snowflake).
    :param instanceFamily: That pool's instance family (Snowflake).
    :param estimatedCredits: The estimated credits, None when not estimated (see ``creditsSource``).
    :param creditsSource: How ``estimatedCredits`` was estimated, or why it was not.
    """

    reused: bool = False
    wallSeconds: float | None = None  # noqa: N815 - OpenLineage facets name fields in camelCase
    cpuSeconds: float | None = None  # noqa: N815
    source: str = ""
    warehouseSize: str | None = None  # noqa: N815
    computePool: str | None = None  # noqa: N815
    instanceFamily: str | None = None  # noqa: N815
    estimatedCredits: float | None = None  # noqa: N815
    creditsSource: str | None = None  # noqa: N815
