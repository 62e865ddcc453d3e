"""Which partition a run writes (``inference.partitions``), with and without Airflow's partition attributes."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from airflow_snowflake_batch.exceptions import InputValidationError
from airflow_snowflake_batch.inference.partitions import (
    PARTITION_KEY_COLUMN,
    run_partition_key,
    write_partition,
)

# A dag_run as Airflow 3.1's task SDK hands it out: no partition_key attribute at all.
RUN_3_1 = SimpleNamespace(run_id="scheduled__2024-06-01", logical_date="2024-06-01")


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        (
            {"partition_key": "2024-06-01", "dag_run": SimpleNamespace(partition_key="2024-06-01")},
            "2024-06-01",
        ),
        # The context key wins; dag_run is the fallback (e.g. a context built by hand).
        ({"partition_key": "eu", "dag_run": SimpleNamespace(partition_key="us")}, "eu"),
        ({"dag_run": SimpleNamespace(partition_key="us")}, "us"),
        # Airflow 3.2+, a run of an unpartitioned DAG: both present, both None.
        ({"partition_key": None, "dag_run": SimpleNamespace(partition_key=None)}, None),
        # Airflow 3.1: neither the context key nor the attribute exists.
        ({"dag_run": RUN_3_1}, None),
        ({}, None),
        ({"partition_key": "  "}, None),
    ],
    ids=["3.2+-partitioned", "context-wins", "dag-run-only", "3.2+-unpartitioned", "3.1", "empty", "blank"],
)
def test_the_runs_partition_key(context: dict[str, Any], expected: str | None) -> None:
    assert run_partition_key(context) == expected


def test_a_partition_key_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(InputValidationError, match="must be a string, got int"):
        run_partition_key({"partition_key": 20240601})


@pytest.mark.parametrize(
    ("output_partition", "key", "expected"),
    [
        (None, "2024-06-01", {PARTITION_KEY_COLUMN: "2024-06-01"}),  # the run's partition by default
        ({"DS": "2024-06-01"}, "2024-06-02", {"DS": "2024-06-01"}),  # an explicit partition wins
        ({}, "2024-06-02", {}),  # {} opts out: the write goes by its mode
        ({"DS": "2024-06-01"}, None, {"DS": "2024-06-01"}),  # unpartitioned run: as before
        (None, None, None),  # unpartitioned run without output_partition: as before
    ],
)
def test_the_partition_a_write_replaces(
    output_partition: dict[str, Any] | None, key: str | None, expected: dict[str, Any] | None
) -> None:
    assert write_partition(output_partition, key) == expected


def test_a_mapped_task_of_a_partitioned_run_replaces_its_own_shard_of_the_partition() -> None:
    from airflow_snowflake_batch.inference.results import MAP_INDEX_COLUMN, replace_key

    partition = write_partition(None, run_partition_key({"partition_key": "2024-06-01"}))
    assert replace_key(partition or {}, "append", 3) == {
        PARTITION_KEY_COLUMN: "2024-06-01",
        MAP_INDEX_COLUMN: 3,
    }
