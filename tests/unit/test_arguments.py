"""Operator arguments that are numbers: NaN, infinity, huge and non-numeric values fail early and clearly.

Issue 19 items 7-8: a NaN poll interval slept 0 s, a NaN timeout disabled ``execution_timeout``,
``float("inf")`` raised OverflowError, and ``max_batch_rows=10**30`` failed late inside the job.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import pytest

from airflow_snowflake_batch.exceptions import InvalidArgumentError, SnowflakeBatchInferenceError
from airflow_snowflake_batch.utils.arguments import MAX_COUNT, MAX_SECONDS, as_int, seconds

NON_FINITE = [float("nan"), float("inf"), float("-inf"), "nan", "inf", "NaN", "-inf"]


@pytest.mark.parametrize("value", [*NON_FINITE, timedelta.max, True])
def test_seconds_refuses_non_finite_and_non_durations(value: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="poll_interval must be"):
        seconds(value, what="poll_interval")


@pytest.mark.parametrize("value", [0, -1, MAX_SECONDS + 1, 10**400, timedelta(days=367)])
def test_seconds_refuses_out_of_range(value: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="timeout must be"):
        seconds(value, what="timeout")


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), (1, 1.0), ("2.5", 2.5), (timedelta(minutes=2), 120.0), (MAX_SECONDS, MAX_SECONDS)],
)
def test_seconds_accepts_durations(value: Any, expected: float | None) -> None:
    assert seconds(value, what="timeout") == expected


@pytest.mark.parametrize("value", [*NON_FINITE, "1e400", 1.5, "two", [], True])
def test_as_int_refuses_non_whole_numbers(value: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="replicas must be a whole number"):
        as_int(value, what="replicas")


@pytest.mark.parametrize("value", [10**30, MAX_COUNT + 1, "1e30", 1e30])
def test_as_int_refuses_numbers_past_its_maximum(value: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="max_batch_rows must be at most 2,147,483,647"):
        as_int(value, what="max_batch_rows")


def test_as_int_takes_a_smaller_maximum() -> None:
    assert as_int("7", what="days", maximum=7) == 7
    with pytest.raises(InvalidArgumentError, match="days must be at most 7"):
        as_int(8, what="days", maximum=7)


@pytest.mark.parametrize(
    ("value", "expected"), [(None, None), ("", None), ("3", 3), (4.0, 4), (MAX_COUNT, MAX_COUNT)]
)
def test_as_int_accepts_whole_numbers(value: Any, expected: int | None) -> None:
    assert as_int(value, what="replicas") == expected


def _batch_operator(**kwargs: Any) -> Any:
    from airflow_snowflake_batch.operators.batch_job import SnowflakeBatchInferenceOperator

    arguments = {
        "task_id": "score",
        "model_name": "churn",
        "input_table": "features",
        "compute_pool": "pool",
        "output_stage_location": "@out/preds/",
        **kwargs,
    }
    return SnowflakeBatchInferenceOperator(**arguments)


@pytest.mark.parametrize("argument", ["poll_interval", "timeout"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), "nan"])
def test_the_batch_operator_refuses_non_finite_durations_at_parse_time(argument: str, value: Any) -> None:
    with pytest.raises(SnowflakeBatchInferenceError, match=argument):
        _batch_operator(**{argument: value})


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 0.0, -1.0])
def test_the_trigger_refuses_a_non_finite_poll_interval(value: float) -> None:
    from airflow_snowflake_batch.triggers.batch_job import SnowflakeBatchInferenceJobTrigger

    with pytest.raises(ValueError, match="poll_interval must be a positive, finite number"):
        SnowflakeBatchInferenceJobTrigger(job_id="ML.PUBLIC.J", snowflake_conn_id="sf", poll_interval=value)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_the_trigger_refuses_a_non_finite_deadline(value: float) -> None:
    from airflow_snowflake_batch.triggers.batch_job import SnowflakeBatchInferenceJobTrigger

    with pytest.raises(InvalidArgumentError, match="deadline"):
        SnowflakeBatchInferenceJobTrigger(job_id="ML.PUBLIC.J", snowflake_conn_id="sf", deadline=value)
    assert not math.isnan(
        SnowflakeBatchInferenceJobTrigger(job_id="ML.PUBLIC.J", snowflake_conn_id="sf", deadline=1e9).deadline
    )
