"""What a run scores, as one fingerprint, and whether an earlier run's results may stand for it.

A fingerprint covers everything that changes the scores a run would write:

- the model (fully qualified name), the version the registry resolved (so a new default version, or an
  alias moved to another version, changes it) and the function;
- the options that change results (``model_params``, ``column_handling``, ``partition_column``, the
  output partition, the engine...; :func:`fingerprint` takes them as one mapping);
- the input, as an :class:`~airflow_snowflake_batch.backends.base.InputDigest`: for a table or query, an
  order-independent 64-bit aggregate hash of every row computed where the rows are (Snowflake's
  ``HASH_AGG(*)``; the local backend sums DuckDB's 64-bit ``hash()`` of each row) plus the row count;
  for stage files, the names, sizes, MD5 checksums and last-modified times of the listing
  (:func:`files_digest`).

Collision odds: a changed input looks unchanged only if the 64-bit aggregate hash *and* the row count
both match, about 1 in 2^64 (5e-20) per comparison for a changed row set; the fingerprint itself is a
SHA-256 of these parts. A run whose earlier record is missing, unreadable or from another release
always scores again: an unknown state never counts as unchanged.

Where fingerprints are kept: one row per output (a table's partition, or a batch job's folder) in the
table :data:`SCORING_RUNS_TABLE` of the output's schema (see :class:`ScoringRun`). The rule itself is
:func:`may_reuse`. Nothing here imports Airflow or a backend library.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timezone
from typing import TYPE_CHECKING, Any, Literal

from airflow_snowflake_batch.backends.base import InputDigest, ScoringRun

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from airflow_snowflake_batch.backends.base import PartitionValue, StageFile

__all__ = ["RESCORE_MODES", "SCORING_RUNS_TABLE", "Fingerprint", "Reuse", "ScoringRun", "may_reuse", "record"]

#: ``rescore`` values: reuse an earlier result only when nothing changed, or score every time.
Rescore = Literal["if_changed", "always"]
RESCORE_MODES: tuple[str, ...] = ("if_changed", "always")
#: The table, in the output table's schema (warehouse) or the job's schema (batch), holding one row
#: per scored output: what scored it (its fingerprint and the parts it was made of) and when.
SCORING_RUNS_TABLE = "AIRFLOW_SCORING_RUNS"
#: Bumped when what a fingerprint covers changes: a record of another version never matches.
FINGERPRINT_VERSION = 1


def check_rescore(value: str) -> Rescore:
    """``rescore`` as given, or a clear error.

    >>> check_rescore("always")
    'always'
    """
    if value not in RESCORE_MODES:
        raise ValueError(f"rescore must be 'if_changed' or 'always', got {value!r}.")
    return value  # type: ignore[return-value]


@dataclass(frozen=True)
class Fingerprint:
    """What one run scores; :attr:`value` is the SHA-256 of :meth:`parts` as canonical JSON."""

    model: str
    model_version: str
    function: str
    options: Mapping[str, Any]
    input: InputDigest

    def parts(self) -> dict[str, Any]:
        """The fingerprint's parts, as stored (readable) beside the value."""
        return {
            "fingerprint_version": FINGERPRINT_VERSION,
            "model": self.model,
            "model_version": self.model_version,
            "function": self.function,
            "options": _plain(self.options),
            "input": {"kind": self.input.kind, "count": self.input.count, "hash": self.input.hash},
        }

    @property
    def value(self) -> str:
        return hashlib.sha256(canonical_json(self.parts()).encode()).hexdigest()


def fingerprint(
    *, model: str, model_version: str, function: str, options: Mapping[str, Any], input: InputDigest
) -> Fingerprint:
    """The fingerprint of a run (options: the arguments that change its results, JSON-able)."""
    return Fingerprint(model, model_version, function, dict(options), input)


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: equal values give equal text.

    >>> canonical_json({"b": 1, "a": [1, "x"]})
    '{"a":[1,"x"],"b":1}'
    """
    return json.dumps(_plain(value), sort_keys=True, separators=(",", ":"), default=str)


def _plain(value: Any) -> Any:
    """Mappings, sequences and scalars as JSON types (tuples become lists, keys text)."""
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def files_digest(files: Sequence[StageFile]) -> InputDigest:
    """The digest of stage files from their listing: names, sizes, MD5 (when listed) and modification times.

    No file is read: a file rewritten with other bytes changes its MD5 or its size and last-modified time
    (a rewrite with identical bytes may change the time and so rescores, the safe direction).
    """
    entries = sorted(
        [f.path, f.size, f.md5 or "", f.last_modified.astimezone(timezone.utc).isoformat()] for f in files
    )
    digest = hashlib.sha256(canonical_json(entries).encode()).hexdigest()
    return InputDigest(kind="files", count=len(entries), hash=f"sha256:{digest}")


def wrap_hash(total: int | str | None) -> int:
    """A sum of unsigned 64-bit row hashes as a signed 64-bit number, as ``HASH_AGG`` returns one.

    The sum modulo 2^64 stays order-independent and, unlike XOR, keeps two equal rows from cancelling
    each other. No row hashes to 0 (an empty input), as Snowflake documents for ``HASH_AGG``.

    >>> wrap_hash(None), wrap_hash(2**64 + 5), wrap_hash(2**64 - 1)
    (0, 5, -1)
    """
    value = int(total or 0) % 2**64
    return value - 2**64 if value >= 2**63 else value


def partition_key(partition: Mapping[str, PartitionValue]) -> str:
    """The stored key of an output partition (``{}``: the whole table, or a job's folder).

    >>> partition_key({"DS": "2024-01-01", "AIRFLOW_MAP_INDEX": 2})
    '{"AIRFLOW_MAP_INDEX":2,"DS":"2024-01-01"}'
    """
    return canonical_json(dict(partition))


def record(target: str, partition: str, fp: Fingerprint, *, job_id: str = "") -> ScoringRun:
    """The :class:`ScoringRun` that says ``fp`` scored ``target`` (``partition``)."""
    return ScoringRun(
        target=target,
        partition=partition,
        fingerprint=fp.value,
        model=fp.model,
        model_version=fp.model_version,
        input_rows=fp.input.count,
        details=canonical_json(fp.parts()),
        job_id=job_id,
    )


@dataclass(frozen=True)
class Reuse:
    """The decision of :func:`may_reuse`: ``reuse`` or not, and why (for the task log)."""

    reuse: bool
    reason: str


def may_reuse(stored: ScoringRun | None, current: Fingerprint, rescore: Rescore, *, what: str) -> Reuse:
    """Whether the output ``what`` names may keep its earlier results: only when ``rescore`` is
    ``if_changed`` and the stored fingerprint equals this run's.

    >>> fp = fingerprint(model="DB.SC.M", model_version="V1", function="PREDICT", options={},
    ...                  input=InputDigest("rows", 3, "hash_agg:7"))
    >>> may_reuse(record("DB.SC.T", "{}", fp), fp, "if_changed", what="T").reuse
    True
    >>> may_reuse(None, fp, "if_changed", what="T").reason
    'T has no record of an earlier scoring run'
    """
    if rescore == "always":
        return Reuse(False, 'rescore="always"')
    if stored is None:
        return Reuse(False, f"{what} has no record of an earlier scoring run")
    if stored.fingerprint != current.value:
        return Reuse(False, f"{what} was scored from something else ({changes(stored, current)})")
    return Reuse(
        True,
        f"{what} was already scored by {stored.model} version {stored.model_version} from the same "
        f"{current.input.count} input {'files' if current.input.kind == 'files' else 'rows'} "
        f"(fingerprint {current.value[:12]}, recorded {stored.recorded_at}) and nothing changed",
    )


def changes(stored: ScoringRun, current: Fingerprint) -> str:
    """What differs between a stored run and this one, in words (e.g. ``model version V1 -> V2``)."""
    try:
        before = json.loads(stored.details)
    except ValueError:
        return "an unreadable record"
    after = current.parts()
    said = []
    for key in ("fingerprint_version", "model", "model_version", "function", "options", "input"):
        if before.get(key) != after[key]:
            said.append(
                f"{key.replace('_', ' ')} {before.get(key)} -> {after[key]}"
                if key in ("model", "model_version", "function")
                else key.replace("_", " ")
            )
    return ", ".join(said) or "the fingerprint"
