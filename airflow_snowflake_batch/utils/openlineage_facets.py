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
