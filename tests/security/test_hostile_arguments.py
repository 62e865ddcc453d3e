"""Hostile values of the arguments that are not names (issue 19): durations, counts, input_files,
file_pattern, column_handling and the cleanup's arguments.

Each either works or ends in the provider's own error (a ``SnowflakeBatchInferenceError`` saying
which argument), never a raw Python error, and nothing is written outside the local workspace.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from hypothesis import given
from strategies import (
    column_handlings,
    counts,
    durations,
    file_patterns,
    hostile_name,
    job_name_prefixes,
    stage_locations,
)

from airflow_snowflake_batch.backends.base import InputSource
from airflow_snowflake_batch.exceptions import InvalidArgumentError, SnowflakeBatchInferenceError
from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook
from airflow_snowflake_batch.identifiers import StageLocation
from airflow_snowflake_batch.local import LocalWorkspace
from airflow_snowflake_batch.utils.arguments import MAX_COUNT, MAX_SECONDS, as_int, seconds


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@given(value=durations)
def test_durations_are_finite_and_positive_or_refused_by_name(value: Any) -> None:
    try:
        result = seconds(value, what="poll_interval")
    except InvalidArgumentError as exc:
        assert "poll_interval" in str(exc)
        return
    assert result is None or (math.isfinite(result) and 0 < result <= MAX_SECONDS)


@given(value=durations)
def test_the_trigger_takes_only_a_finite_positive_poll_interval(value: Any) -> None:
    from airflow_snowflake_batch.triggers.batch_job import SnowflakeBatchInferenceJobTrigger

    try:
        interval = float(value)  # the trigger takes what the operator checked: a number
    except (TypeError, ValueError, OverflowError):
        return
    try:
        trigger = SnowflakeBatchInferenceJobTrigger(
            job_id="ML.PUBLIC.J", snowflake_conn_id="c", poll_interval=interval
        )
    except InvalidArgumentError as exc:
        assert "poll_interval" in str(exc)
        return
    assert math.isfinite(trigger.poll_interval) and trigger.poll_interval > 0


@given(value=counts)
def test_counts_are_whole_numbers_in_range_or_refused_by_name(value: Any) -> None:
    try:
        result = as_int(value, what="max_batch_rows")
    except InvalidArgumentError as exc:
        assert "max_batch_rows" in str(exc)
        return
    assert result is None or (isinstance(result, int) and 1 <= result <= MAX_COUNT)


@given(location=stage_locations, pattern=file_patterns, column=hostile_name)
def test_input_files_arguments_list_inside_their_folder_or_fail_cleanly(
    local_hook: SnowflakeBatchInferenceHook,
    workspace: LocalWorkspace,
    location: str,
    pattern: Any,
    column: str,
) -> None:
    folder = workspace.path_of("@OUT/")
    (folder / "in").mkdir(parents=True, exist_ok=True)
    (folder / "in" / "a.png").write_bytes(b"a")
    try:
        source = local_hook.input_source(input_files=location, file_pattern=pattern, file_column=column)
        assert source.files is not None
        listed = local_hook.list_input_files(source.files)
    except SnowflakeBatchInferenceError as exc:
        assert str(exc)
        return
    assert all(p.startswith(listed.location.sql) for p in listed.paths)


@given(handling=column_handlings)
def test_column_handling_is_normalized_or_refused_cleanly(
    local_hook: SnowflakeBatchInferenceHook, handling: Any
) -> None:
    model = local_hook.get_model_version("IRIS")
    function = local_hook.resolve_function(model, "PREDICT")
    source = InputSource(stage_location=StageLocation.parse("@ML.PUBLIC.OUT/in/"))
    try:
        normalized = local_hook.validate_input(source, function, column_handling=handling, batch=True)
    except SnowflakeBatchInferenceError as exc:
        assert str(exc)
        return
    assert isinstance(normalized, dict)
    assert all(set(h) <= {"input_format", "convert_to"} for h in normalized.values())


@given(
    days=counts,
    prefix=job_name_prefixes,
    location=stage_locations,
    schema=hostile_name,
)
def test_cleanup_arguments_plan_or_fail_cleanly_and_write_nothing_outside(
    local_hook: SnowflakeBatchInferenceHook,
    workspace: LocalWorkspace,
    tmp_path: Path,
    days: Any,
    prefix: Any,
    location: str,
    schema: str,
) -> None:
    from operator_support import make_context

    from airflow_snowflake_batch.operators.cleanup import SnowflakeBatchInferenceCleanupOperator

    outside = _snapshot(tmp_path)
    for job_schema in (None, schema):
        operator = SnowflakeBatchInferenceCleanupOperator(
            task_id="cleanup",
            snowflake_conn_id=local_hook.snowflake_conn_id,
            output_stage_location=location,
            older_than_days=days,
            job_name_prefix=prefix,
            job_schema=job_schema,
            dry_run=True,
        )
        try:
            result = operator.execute(make_context())
        except SnowflakeBatchInferenceError as exc:
            assert str(exc)
            continue
        assert result["dry_run"] is True
    changed = {k for k, v in _snapshot(tmp_path).items() if outside.get(k) != v}
    assert all(k.startswith("ws/") for k in changed), changed
