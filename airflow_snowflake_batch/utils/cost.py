"""What a run cost, as the operators report it in XCom (``cost``), the task log and the OpenLineage
``snowflakeRunCost`` run facet.

Every figure is measured by the worker around the call that did the work, so it is the same kind of
number on both backends:

- ``wall_seconds``: the worker's wall-clock time of the scoring call (a warehouse run: the statements
  that scored and wrote; a reused run: the fingerprint check alone);
- ``cpu_seconds``: the worker process's CPU time over the same call. On the local backend the scoring
  runs in the worker, so this is the scoring's CPU; on Snowflake the work runs in the warehouse and this
  is only the client's share.

Credit estimates (warehouse size x time, or an SPCS instance family x time) are not computed yet; see
docs/rescoring.rst.
"""

from __future__ import annotations

from typing import Any


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
