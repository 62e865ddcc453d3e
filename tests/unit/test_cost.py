"""A run's ``cost``: what the batch job's backend measured, labelled; a reused job spent nothing."""

from __future__ import annotations

from airflow_snowflake_batch.backends.base import JobUsage
from airflow_snowflake_batch.utils.cost import (
    COMPUTE_POOL_CREDITS_UNKNOWN,
    batch_job_cost,
    warehouse_estimate,
)


def test_a_local_job_reports_its_own_wall_and_cpu_seconds():
    cost = batch_job_cost(JobUsage(wall_seconds=12.34567, cpu_seconds=40.1234, source="local job process"))

    assert cost == {
        "wall_seconds": 12.346,
        "cpu_seconds": 40.123,
        "source": "local job process",
        "reused": False,
    }


def test_a_snowflake_job_reports_its_run_time_and_instance_family_and_no_guessed_credits():
    usage = JobUsage(
        wall_seconds=750.0, compute_pool="GPU_POOL", instance_family="GPU_NV_S", source="history"
    )

    cost = batch_job_cost(usage)

    assert cost["wall_seconds"] == 750.0 and "cpu_seconds" not in cost
    assert (cost["compute_pool"], cost["instance_family"]) == ("GPU_POOL", "GPU_NV_S")
    assert cost["estimated_credits"] is None
    assert cost["credits_source"] == COMPUTE_POOL_CREDITS_UNKNOWN


def test_an_unreadable_history_keeps_the_reason():
    cost = batch_job_cost(JobUsage(source="GET_JOB_HISTORY could not be read: insufficient privileges"))

    assert cost["wall_seconds"] is None and cost["source"].startswith("GET_JOB_HISTORY could not be read")


def test_a_reused_job_reports_zero_compute_whatever_the_old_job_used():
    cost = batch_job_cost(JobUsage(wall_seconds=600.0, cpu_seconds=900.0, source="x"), reused=True)

    assert (cost["wall_seconds"], cost["cpu_seconds"], cost["reused"]) == (0.0, 0.0, True)


def test_warehouse_sizes_in_either_spelling():
    assert warehouse_estimate("XSMALL", 3600)["estimated_credits"] == 1
    assert warehouse_estimate("2X-Large", 1800)["estimated_credits"] == 16
    assert warehouse_estimate("HUGE", 60) == {"warehouse_size": "HUGE"}


def test_the_run_facet_carries_the_batch_job_cost():
    from airflow_snowflake_batch.utils.lineage import operator_lineage

    usage = JobUsage(
        wall_seconds=750.0, compute_pool="GPU_POOL", instance_family="GPU_NV_S", source="history"
    )
    lineage = operator_lineage(
        namespace="snowflake://acct", inputs=[], outputs=[], cost=batch_job_cost(usage)
    )

    assert lineage is not None
    facet = lineage.run_facets["snowflakeRunCost"]
    assert (facet.wallSeconds, facet.computePool, facet.instanceFamily) == (750.0, "GPU_POOL", "GPU_NV_S")
    assert facet.estimatedCredits is None and facet.creditsSource == COMPUTE_POOL_CREDITS_UNKNOWN
