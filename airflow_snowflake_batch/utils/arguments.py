"""Turning operator arguments and the task context into what the hook takes."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow_snowflake_batch.exceptions import InvalidArgumentError

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_snowflake_batch.backends.base import ModelFunction


#: The longest duration (poll interval, timeout) accepted: 366 days. Longer is a mistake, and
#: ``time.sleep``/``asyncio.sleep`` raise OverflowError for huge values.
MAX_SECONDS = 366 * 24 * 3600.0

#: The largest count (replicas, num_workers, max_batch_rows) accepted: 2**31 - 1, a 32-bit signed int.
#: snowflake-ml 2.6 types these as ``int`` with no documented bound; a 32-bit int is what every consumer
#: holds (Snowflake's service spec, pyarrow batch sizes in the local job runner), so a larger number is
#: refused here instead of failing late in the job ("Python int too large to convert to C long").
MAX_COUNT = 2**31 - 1


def seconds(value: float | timedelta | None, *, what: str) -> float | None:
    """A duration in seconds from a number or timedelta (rendered templates included); None stays None.

    NaN and infinity are refused: NaN compares false with everything, so a NaN poll interval slept
    0 s in a loop and a NaN timeout silently disabled ``execution_timeout``.
    """
    if value is None:
        return None
    try:
        result = value.total_seconds() if isinstance(value, timedelta) else float(value)
    except (TypeError, ValueError, OverflowError):
        raise InvalidArgumentError(
            f"{what} must be a number of seconds or a timedelta, got {value!r}."
        ) from None
    if isinstance(value, bool) or not math.isfinite(result):
        raise InvalidArgumentError(
            f"{what} must be a finite number of seconds or a timedelta, got {value!r}."
        )
    if result <= 0:
        raise InvalidArgumentError(f"{what} must be positive, got {value!r}.")
    if result > MAX_SECONDS:
        raise InvalidArgumentError(
            f"{what} must be at most {MAX_SECONDS:,.0f} seconds (366 days), got {value!r}."
        )
    return result


def as_int(value: Any, *, what: str, maximum: int = MAX_COUNT) -> int | None:
    """Cast a (possibly rendered) whole number from 1 to ``maximum``; None (or "") stays None."""
    if value is None or value == "":
        return None
    try:
        number = float(value) if isinstance(value, str) else value
        if isinstance(number, bool) or int(number) != number:
            raise ValueError
        result = int(number)
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(inf)
        raise InvalidArgumentError(f"{what} must be a whole number, got {value!r}.") from None
    if result < 1:
        raise InvalidArgumentError(f"{what} must be at least 1, got {value!r}.")
    if result > maximum:
        raise InvalidArgumentError(f"{what} must be at most {maximum:,}, got {value!r}.")
    return result


def task_query_tag(context: Context) -> dict[str, str]:
    """The ``QUERY_TAG`` of a task's Snowflake session, so its cost can be traced back to the run."""
    ti = context.get("ti")
    return {
        "dag_id": str(getattr(ti, "dag_id", "")),
        "task_id": str(getattr(ti, "task_id", "")),
        "run_id": str(getattr(ti, "run_id", "")),
    }


def check_model_params_given(
    model_params: Mapping[str, Any] | None,
    params: Mapping[str, Any] | None,
    function: ModelFunction,
    *,
    task: str,
) -> None:
    """Refuse a task that may still pass the model's parameters through Airflow's ``params``.

    The operators once sent ``params`` to the model; ``model_params`` does that now and ``params``
    are Airflow's only. A task written the old way would score with the model's defaults without a
    word, so while ``model_params`` is not given, a ``params`` key naming a parameter of ``function``
    (case-insensitive, as Snowflake matches them) fails the task. ``model_params={}`` is a choice too.
    """
    if model_params is not None or not params:
        return
    declared = {p.name.upper() for p in function.params}
    clashing = sorted(str(key) for key in params if str(key).upper() in declared)
    if clashing:
        raise ValueError(
            f"Task {task}: params {clashing} name parameters of model function {function.name}, but "
            "params are Airflow's task params and are not sent to the model. Move the model's values "
            "to model_params, or pass model_params={} to run the model with its defaults."
        )
