"""Which partition a run writes: its ``output_partition``, or else the partition of a partitioned run.

Airflow 3.2 added partitioned scheduling (``CronPartitionTimetable``, ``PartitionedAssetTimetable``,
``PartitionedAtRuntime``): such a run carries a ``partition_key`` (``dag_run.partition_key``, and
``partition_key`` in the task context). A warehouse or load task of such a run that names no
``output_partition`` writes that key in :data:`PARTITION_KEY_COLUMN` and replaces only the rows of
that key, so a rerun or a backfill of a partition replaces that partition and no other.

An explicit ``output_partition`` always wins (``{}`` too: it writes by ``output_mode`` as an
unpartitioned run does). Airflow 3.1 has no partitions: its context has no ``partition_key`` and its
runs have no such attribute, so every run there writes exactly as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_snowflake_batch.exceptions import InputValidationError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow_snowflake_batch.backends.base import PartitionValue

#: The column a partitioned run's partition key goes to when its write names no ``output_partition``
#: (named like :data:`~airflow_snowflake_batch.inference.results.MAP_INDEX_COLUMN`).
PARTITION_KEY_COLUMN = "AIRFLOW_PARTITION_KEY"


def run_partition_key(context: Mapping[str, Any]) -> str | None:
    """The partition key of the task's run, or None (an unpartitioned run, or Airflow 3.1).

    Read from the context's ``partition_key`` (Airflow 3.2+), else from ``dag_run.partition_key``;
    both are looked up tolerantly, as neither exists on Airflow 3.1. An empty key counts as none.

    >>> from types import SimpleNamespace
    >>> run_partition_key({"partition_key": "2024-06-01"})
    '2024-06-01'
    >>> run_partition_key({"dag_run": SimpleNamespace(partition_key="eu")})
    'eu'
    >>> run_partition_key({"dag_run": SimpleNamespace(run_id="manual__1")}) is None
    True
    """
    key = context.get("partition_key")
    if key is None:
        key = getattr(context.get("dag_run"), "partition_key", None)
    if key is None or (isinstance(key, str) and not key.strip()):
        return None
    if not isinstance(key, str):
        raise InputValidationError(f"The run's partition key must be a string, got {type(key).__name__}.")
    return key


def write_partition(
    output_partition: Mapping[str, PartitionValue] | None, partition_key: str | None
) -> dict[str, PartitionValue] | None:
    """The partition a write replaces: ``output_partition`` when given, else the run's partition key.

    >>> write_partition({"DS": "2024-06-01"}, "2024-06-02")
    {'DS': '2024-06-01'}
    >>> write_partition(None, "2024-06-02")
    {'AIRFLOW_PARTITION_KEY': '2024-06-02'}
    >>> write_partition(None, None) is None, write_partition({}, "2024-06-02")
    (True, {})
    """
    if output_partition is not None:
        return dict(output_partition)
    if partition_key is None:
        return None
    return {PARTITION_KEY_COLUMN: partition_key}
