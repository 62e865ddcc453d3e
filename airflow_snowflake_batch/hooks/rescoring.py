"""The hook's side of ``rescore``: fingerprint a run, read and write the record of what scored an output.

The rule and the fingerprint are :mod:`airflow_snowflake_batch.inference.fingerprint`; this mixin reads
what they need from the backend (the input's aggregate hash or file listing, the stored record) and
writes the record. :class:`~airflow_snowflake_batch.hooks.batch_inference.SnowflakeBatchInferenceHook`
uses it for both paths:

- warehouse: the record of the replaced partition is deleted before the write and added after it, so
  a crash in between leaves no record (the next run scores again), never an old record beside new rows;
- batch: the record of a job's folder is replaced before the job is submitted, so a job that exists
  always has the record of what it was submitted with.

No transaction: a reader that finds no record, or two (a retried or racing insert), scores again.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_snowflake_batch.backends.base import InputSource
from airflow_snowflake_batch.identifiers import Identifier, ObjectName
from airflow_snowflake_batch.inference import fingerprint as fp
from airflow_snowflake_batch.inference import inputs

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from airflow_snowflake_batch.backends.base import (
        BatchJobSpec,
        FileInput,
        InferenceBackend,
        InputDigest,
        ModelFunction,
        ModelVersionRef,
        StageFile,
    )


T = TypeVar("T")

#: The options of a batch job that change its results (resources, replicas and workers do not).
BATCH_RESULT_OPTIONS = ("params", "column_handling", "partition_column", "engine", "engine_args_override")


def runs_table(near: ObjectName) -> ObjectName:
    """The :data:`~airflow_snowflake_batch.inference.fingerprint.SCORING_RUNS_TABLE` of ``near``'s schema."""
    return replace(near, name=Identifier(fp.SCORING_RUNS_TABLE))


class RescoringMixin:
    """Fingerprints and their records; mixed into the hook, which provides ``_idempotent`` and ``backend``."""

    backend: InferenceBackend

    if TYPE_CHECKING:

        def _idempotent(self, call: Callable[[InferenceBackend], T]) -> T: ...

    def forget_input_digests(self) -> None:
        """Start a new decision: inputs are fingerprinted again (they may have changed since the last)."""
        self.__dict__["_input_digests"] = {}

    def input_digest(self, source: InputSource) -> InputDigest:
        """What the input holds now: rows and their aggregate hash, or the files' listing. Memoized within
        one decision (:meth:`forget_input_digests` starts the next), so a decision scans its input once."""
        cache: dict[InputSource, InputDigest] = self.__dict__.setdefault("_input_digests", {})
        if source not in cache:
            cache[source] = self._digest(source)
        return cache[source]

    def _digest(self, source: InputSource) -> InputDigest:
        if source.table is not None or source.query is not None:
            return self._idempotent(lambda b: b.hash_input(source))
        location = source.stage_location if source.stage_location is not None else source.files.location  # type: ignore[union-attr]
        files = self._idempotent(lambda b: b.list_file_details(location))
        return fp.files_digest(_matching(files, source.files.pattern if source.files is not None else None))

    def list_input_files(self, files: FileInput) -> FileInput:
        """The folder's matching files, as full stage paths; the same listing fingerprints the input,
        so a job of files costs one ``LIST``."""
        details = self._idempotent(lambda b: b.list_file_details(files.location))
        unlisted = InputSource(files=replace(files, paths=()))
        self.__dict__.setdefault("_input_digests", {})[unlisted] = fp.files_digest(
            _matching(details, files.pattern)
        )
        names = [f.path for f in details]
        return replace(files, paths=inputs.matching_files(files.location, names, files.pattern))

    def fingerprint_run(
        self,
        model: ModelVersionRef,
        function: ModelFunction,
        source: InputSource,
        options: Mapping[str, Any],
    ) -> fp.Fingerprint:
        return fp.fingerprint(
            model=model.model.sql,
            model_version=model.version.value,
            function=function.name,
            options=options,
            input=self.input_digest(source),
        )

    def batch_fingerprint(self, spec: BatchJobSpec) -> fp.Fingerprint:
        """The fingerprint of a batch job: its model, function, result options and input."""
        options = {key: getattr(spec, key) for key in BATCH_RESULT_OPTIONS}
        if spec.source.files is not None:
            options["file_column"] = spec.source.files.column
            options["file_pattern"] = spec.source.files.pattern
        return self.fingerprint_run(spec.model, spec.function, _unlisted(spec.source), options)

    def scoring_run(self, near: ObjectName, target: str, partition: str) -> fp.ScoringRun | None:
        """The record of what last scored ``target`` (``partition``), from the runs table of ``near``'s schema."""
        return self._idempotent(lambda b: b.read_scoring_run(runs_table(near), target, partition))

    def record_scoring_run(self, near: ObjectName, run: fp.ScoringRun, *, replaces: bool = True) -> None:
        """Record ``run`` in the runs table of ``near``'s schema. ``replaces``: delete the output's record
        first; False when :meth:`forget_scores` already did (a deleted record is never vouched for
        again, so a crash between the two leaves none: the next run scores again)."""
        table = runs_table(near)
        if replaces:
            self._idempotent(lambda b: b.delete_scoring_runs(table, run.target, [run.partition]))
        # A retried INSERT may leave two records: they count as none, so the next run scores again.
        self._idempotent(lambda b: b.add_scoring_run(table, run))

    def forget_scores(self, table: ObjectName, partition: str) -> None:
        """Before any write replacing ``partition`` of ``table`` (or appending to it): its record, and the
        whole table's (an ``overwrite`` run's), no longer describe the rows, so they go first (one
        statement)."""
        keys = list(dict.fromkeys((partition, fp.partition_key({}))))
        self._idempotent(lambda b: b.delete_scoring_runs(runs_table(table), table.sql, keys))

    def job_reuse(self, spec: BatchJobSpec, rescore: fp.Rescore, *, job_id: str | None = None) -> fp.Reuse:
        """Whether the finished job ``spec`` names (or ``job_id``, a job of the same task) may stand for
        this run: its record matches this run's fingerprint."""
        if job_id is not None:  # asked from outside start_batch_job: a decision of its own
            self.forget_input_digests()
            spec = replace(spec, job_name=ObjectName.parse(job_id, what="job_id"))
        if rescore == "always":
            return fp.Reuse(False, 'rescore="always"')
        folder = spec.job_output_location.sql
        stored = self.scoring_run(spec.job_name, folder, "{}")
        return fp.may_reuse(stored, self.batch_fingerprint(spec), rescore, what=f"Job folder {folder}")


def _matching(files: list[StageFile], pattern: str | None) -> list[StageFile]:
    """The listed files ``file_pattern`` selects (the rule of ``inputs.matching_files``)."""
    return [f for f in files if pattern is None or re.fullmatch(pattern, f.path)]


def _unlisted(source: InputSource) -> InputSource:
    """A files input without its listed paths: the same input before and after the hook lists it."""
    if source.files is None or not source.files.paths:
        return source
    return replace(source, files=replace(source.files, paths=()))


@dataclass(frozen=True)
class WarehouseScoring:
    """What :meth:`~airflow_snowflake_batch.hooks.batch_inference.SnowflakeBatchInferenceHook.run_warehouse_scoring` did.

    :param rows: Rows written; when ``reused``, the input rows of the run whose scores stand.
    :param reused: Nothing was scored: the output already held this run's scores.
    :param reason: Why it was reused or scored again (for the task log).
    :param started: ``(time.monotonic(), time.process_time())`` when the call began: the wall and CPU
        seconds are measured from it when the result is made.
    :param warehouse_size: The session's warehouse size, for the credit estimate (None: unknown, local).
    """

    table: ObjectName
    rows: int
    model: ModelVersionRef
    reused: bool
    reason: str = ""
    started: tuple[float, float] | None = None
    warehouse_size: str | None = None
    wall_seconds: float = field(init=False, default=0.0)
    cpu_seconds: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        if self.started is not None:
            object.__setattr__(self, "wall_seconds", round(time.monotonic() - self.started[0], 3))
            object.__setattr__(self, "cpu_seconds", round(time.process_time() - self.started[1], 3))
