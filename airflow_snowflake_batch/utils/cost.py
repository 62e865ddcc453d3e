"""What a run cost, as the operators report it in XCom (``cost``), the task log and the OpenLineage
``snowflakeRunCost`` run facet.

Every figure is measured by the worker around the call that did the work, so it is the same kind of
number on both backends:

- ``wall_seconds``: the worker's wall-clock time of the scoring call (a warehouse run: the statements
  that scored and wrote; a reused run: the fingerprint check alone);
- ``cpu_seconds``: the worker process's CPU time over the same call. On the local backend the scoring
  runs in the worker, so this is the scoring's CPU; on Snowflake the work runs in the warehouse and this
  is only the client's share.

- on Snowflake, ``warehouse_size`` (the session's warehouse, from ``SHOW WAREHOUSES``' ``is_current`` row)
  and ``estimated_credits``: ``wall_seconds`` x the size's credits per hour from Snowflake's table
  (https://docs.snowflake.com/en/user-guide/warehouses-overview#warehouse-size), labelled an estimate: it
  ignores the 60-second minimum of a resumed warehouse, queries sharing the warehouse, Snowpark-optimized
  and multi-cluster pricing, and cloud services credits. ``WAREHOUSE_METERING_HISTORY`` has the billed figure.

A batch job's cost is the job's own figure, read from the backend once it ended
(:func:`batch_job_cost`): on the local backend the job process's wall and CPU seconds (its workers
included); on Snowflake the job's run time (``GET_JOB_HISTORY``: created to completed), its compute pool
and the pool's instance family, with ``estimated_credits`` None: the credits per hour of an instance
family are published only in Snowflake's Service Consumption Table (a PDF this project could not cite),
so no figure is guessed; ``COMPUTE_POOL_METERING_HISTORY`` has the billed one. A reused job reports 0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_snowflake_batch.backends.base import JobUsage

#: Credits per hour of a standard warehouse, by ``SHOW WAREHOUSES`` size (Snowflake's "Warehouse size" table:
#: https://docs.snowflake.com/en/user-guide/warehouses-overview#warehouse-size).
WAREHOUSE_CREDITS_PER_HOUR = {
    "X-SMALL": 1,
    "SMALL": 2,
    "MEDIUM": 4,
    "LARGE": 8,
    "X-LARGE": 16,
    "2X-LARGE": 32,
    "3X-LARGE": 64,
    "4X-LARGE": 128,
    "5X-LARGE": 256,
    "6X-LARGE": 512,
}
_SIZE_SPELLINGS = {"XSMALL": "X-SMALL", "XLARGE": "X-LARGE", "XXLARGE": "2X-LARGE", "XXXLARGE": "3X-LARGE"}


def warehouse_estimate(size: str | None, seconds: float) -> dict[str, Any]:
    """The estimated credits of ``seconds`` on a warehouse of ``size`` (empty when the size is unknown).

    >>> warehouse_estimate("Medium", 90)
    {'warehouse_size': 'MEDIUM', 'estimated_credits': 0.1, 'credits_source': 'estimate: wall_seconds x 4 credits/hour (MEDIUM warehouse, Snowflake warehouse size table)'}
    >>> warehouse_estimate(None, 90)
    {}
    """
    if not size:
        return {}
    name = size.strip().upper().replace(" ", "-")
    name = _SIZE_SPELLINGS.get(name.replace("-", ""), name)
    per_hour = WAREHOUSE_CREDITS_PER_HOUR.get(name)
    if per_hour is None:
        return {"warehouse_size": name}
    return {
        "warehouse_size": name,
        "estimated_credits": round(seconds * per_hour / 3600, 6),
        "credits_source": (
            f"estimate: wall_seconds x {per_hour} credits/hour ({name} warehouse, Snowflake warehouse size table)"
        ),
    }


def run_cost(*, wall_seconds: float, cpu_seconds: float | None = None, **extra: Any) -> dict[str, Any]:
    """The ``cost`` of one run, JSON-safe.

    >>> run_cost(wall_seconds=1.23456, cpu_seconds=0.5)
    {'wall_seconds': 1.235, 'cpu_seconds': 0.5, 'source': 'measured by the worker around the scoring call'}
    """
    cost: dict[str, Any] = {"wall_seconds": round(wall_seconds, 3)}
    if cpu_seconds is not None:
        cost["cpu_seconds"] = round(cpu_seconds, 3)
    cost["source"] = "measured by the worker around the scoring call"
    cost.update(extra)
    return cost


#: Why a batch job's ``estimated_credits`` is None (see the module docstring and docs/rescoring.rst).
COMPUTE_POOL_CREDITS_UNKNOWN = (
    "not estimated: the credits per hour of a compute pool instance family are published only in "
    "Snowflake's Service Consumption Table; see COMPUTE_POOL_METERING_HISTORY for the billed credits"
)


def batch_job_cost(usage: JobUsage | None, *, reused: bool = False) -> dict[str, Any]:
    """The ``cost`` of a batch job run from what its backend measured; a reused job spent nothing.

    >>> from airflow_snowflake_batch.backends.base import JobUsage
    >>> batch_job_cost(JobUsage(wall_seconds=2.5, cpu_seconds=4.25, source="local job"))
    {'wall_seconds': 2.5, 'cpu_seconds': 4.25, 'source': 'local job', 'reused': False}
    >>> batch_job_cost(None, reused=True)["wall_seconds"]
    0.0
    """
    if reused:
        return run_cost(wall_seconds=0.0, cpu_seconds=0.0, reused=True) | {
            "source": "no job ran: the earlier job's results were reused"
        }
    if usage is None:
        from airflow_snowflake_batch.backends.base import JobUsage

        usage = JobUsage(source="not measured")
    extra: dict[str, Any] = {}
    if usage.compute_pool is not None or usage.instance_family is not None:
        extra = {
            "compute_pool": usage.compute_pool,
            "instance_family": usage.instance_family,
            "estimated_credits": None,
            "credits_source": COMPUTE_POOL_CREDITS_UNKNOWN,
        }
    cost: dict[str, Any] = {
        "wall_seconds": None if usage.wall_seconds is None else round(usage.wall_seconds, 3),
    }
    if usage.cpu_seconds is not None:
        cost["cpu_seconds"] = round(usage.cpu_seconds, 3)
    return cost | {"source": usage.source, "reused": False} | extra
