"""What a load or a warehouse write replaces, which table columns it writes, and when a job folder's
results may be loaded.

A write replaces the rows of its ``output_partition`` (whatever the mode), the whole table
(``overwrite``), or nothing (``append``); a mapped task's map index joins what it replaces
(:func:`replace_key`), so mapped shards never delete each other's rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_snowflake_batch.constants import SUCCESS_FILE
from airflow_snowflake_batch.exceptions import InputValidationError, ResultsNotReadyError
from airflow_snowflake_batch.identifiers import Identifier

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from airflow_snowflake_batch.backends.base import PartitionValue, TableMode
    from airflow_snowflake_batch.identifiers import StageLocation
    from airflow_snowflake_batch.job_status import JobState

#: The column a mapped task's map index goes to when its write replaces rows (see :func:`replace_key`).
MAP_INDEX_COLUMN = "AIRFLOW_MAP_INDEX"


def replace_key(
    partition: dict[str, PartitionValue], mode: TableMode, map_index: int | None
) -> dict[str, PartitionValue]:
    """The partition a write replaces; a mapped task's map index joins it when rows are replaced.

    A mapped task (``map_index >= 0``) that replaces rows (an ``output_partition``, or ``overwrite``)
    writes its map index in :data:`MAP_INDEX_COLUMN` and replaces only the rows of its own index,
    so shards writing the same partition keep each other's rows. A mapped ``append`` without a
    partition replaces nothing and gets no extra column.

    >>> replace_key({"DS": "2024-01-01"}, "overwrite", 2)
    {'DS': '2024-01-01', 'AIRFLOW_MAP_INDEX': 2}
    >>> replace_key({}, "append", 2), replace_key({"DS": "x"}, "append", -1)
    ({}, {'DS': 'x'})
    """
    if map_index is None or map_index < 0 or (not partition and mode == "append"):
        return partition
    if MAP_INDEX_COLUMN in partition:
        raise InputValidationError(
            f"output_partition names {MAP_INDEX_COLUMN}, which a mapped task fills with its map index; "
            "use another column name."
        )
    return {**partition, MAP_INDEX_COLUMN: map_index}


def parse_partition(partition: Mapping[str, PartitionValue] | None) -> dict[str, PartitionValue]:
    """``output_partition`` with its columns as stored identifiers and its values checked as literals.

    >>> parse_partition({"ds": "2024-01-01", '"Region"': "EU"})
    {'DS': '2024-01-01', 'Region': 'EU'}
    """
    result: dict[str, PartitionValue] = {}
    for column, value in (partition or {}).items():
        if not isinstance(value, (str, int, float, bool)):
            raise InputValidationError(
                f"output_partition value for {column!r} must be a string, number or boolean, "
                f"got {type(value).__name__}."
            )
        result[Identifier.parse(column, what="output_partition column").value] = value
    return result


def check_output_location_given(output_location: str | None) -> str:
    """The ``output_location`` a load reads, or an error when the upstream task pushed none.

    A downstream task receives None (or its rendering ``"None"``) when the batch task was marked
    success by hand, or skipped, before its job pushed an ``output_location``.
    """
    if output_location is None or str(output_location).strip() in ("", "None"):
        raise ResultsNotReadyError(
            f"output_location is {output_location!r}: the upstream batch inference task produced no "
            "results (it pushed no output_location, e.g. because it was marked success or skipped "
            "before its job finished). Clear and re-run the upstream task, or pass the job folder "
            "@DB.SCHEMA.STAGE/path/<JOB_NAME>/ explicitly."
        )
    return str(output_location)


def check_success(
    location: StageLocation,
    files: Sequence[str],
    *,
    require_success: bool,
    job: JobState | None = None,
) -> bool:
    """Whether a job folder may be loaded; True when the job's DONE status stood in for ``_SUCCESS``.

    A folder without ``_SUCCESS`` holds a failed or unfinished job's results: refused unless
    ``require_success`` is False, or the folder's ``job`` is known to have ended DONE. snowflake-ml
    documents no ``_SUCCESS`` marker (its batch inference writes none that its source mentions), so a
    DONE service is finished whatever its folder holds; the caller logs that at WARNING
    (:func:`status_stood_in`). A job known to have ended otherwise (FAILED, CANCELLED...) is refused.
    """
    if not require_success or SUCCESS_FILE in files:
        return False
    if job is not None and job.status.is_success:
        return True
    ended = f" and job {job.job_id} is {job.status.value}" if job is not None else ""
    raise ResultsNotReadyError(
        f"{location.sql} has no {SUCCESS_FILE} file{ended}: the job did not finish successfully, so nothing "
        "was loaded. Set require_success=False to load partial results."
    )


def status_stood_in(job_id: str, location: StageLocation | str) -> str:
    """The WARNING logged when a DONE job's status stands in for its folder's missing ``_SUCCESS``."""
    where = location if isinstance(location, str) else location.sql
    return (
        f"Job {job_id} ended DONE but {where} has no {SUCCESS_FILE} file: the job's status stands in "
        f"for the marker (snowflake-ml documents none), so its results are taken as complete."
    )


def parquet_files(files: Sequence[str]) -> tuple[str, ...]:
    """The result files of a job folder listing (an empty input leaves only ``_SUCCESS``).

    >>> parquet_files(["_SUCCESS", "data_0.parquet", "part/a.parquet"])
    ('data_0.parquet', 'part/a.parquet')
    """
    return tuple(f for f in files if f.endswith(".parquet"))


def match_columns(table: str, existing: Sequence[str], written: Sequence[str]) -> dict[str, str | None]:
    """For each written column, the table column it goes to (its exact spelling), or None when missing.

    Written names are matched case-insensitively, as ``COPY ... MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE``
    does: a table created by pandas or Snowpark often has quoted lower-case columns (``"score"``), and an
    ``ALTER TABLE ... ADD COLUMN SCORE`` would give it a second, upper-case column on Snowflake that takes
    the new rows while the old one stays NULL. A table holding two case variants of a written column
    (``"score"`` and ``SCORE``) has no single column to write to: refused before anything is written.

    >>> match_columns("T", ["ID", "score"], ["ID", "SCORE", "DS"])
    {'ID': 'ID', 'SCORE': 'score', 'DS': None}
    """
    by_folded: dict[str, list[str]] = {}
    for name in existing:
        by_folded.setdefault(name.upper(), []).append(name)
    matched: dict[str, str | None] = {}
    for name in written:
        candidates = by_folded.get(name.upper(), [])
        if len(candidates) > 1:
            spelled = ", ".join(Identifier(c).sql for c in candidates)
            raise InputValidationError(
                f"Table {table} has {len(candidates)} columns named {name!r} in different case ({spelled}): "
                f"the write cannot tell which one column {Identifier(name).sql} goes to, so nothing was written. "
                "Rename or drop all but one of them (ALTER TABLE ... RENAME COLUMN), then write again."
            )
        matched[name] = candidates[0] if candidates else None
    return matched
