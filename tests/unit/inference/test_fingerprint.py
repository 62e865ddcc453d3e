"""The fingerprint of a run and the rescore rule (inference/fingerprint.py), and the local HASH_AGG stand-in."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import pytest

from airflow_snowflake_batch.backends.base import InputDigest, StageFile
from airflow_snowflake_batch.identifiers import ObjectName
from airflow_snowflake_batch.inference import jobs
from airflow_snowflake_batch.inference.fingerprint import (
    Reuse,
    ScoringRun,
    check_rescore,
    files_digest,
    fingerprint,
    may_reuse,
    record,
    wrap_hash,
)
from airflow_snowflake_batch.job_status import BatchJobStatus, JobState

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def fp(**changes):
    parts = {
        "model": "DB.SC.M",
        "model_version": "V1",
        "function": "PREDICT",
        "options": {"params": {"t": 0.2}, "column_handling": {}},
        "input": InputDigest("rows", 10, "hash_agg:42"),
        **changes,
    }
    return fingerprint(**parts)


@pytest.mark.parametrize(
    "change",
    [
        {"model": "DB.SC.OTHER"},
        {"model_version": "V2"},
        {"function": "PREDICT_PROBA"},
        {"options": {"params": {"t": 0.3}, "column_handling": {}}},
        {"options": {"params": {"t": 0.2}, "column_handling": {"IMG": {"convert_to": "base64"}}}},
        {"input": InputDigest("rows", 10, "hash_agg:43")},
        {"input": InputDigest("rows", 11, "hash_agg:42")},
        {"input": InputDigest("files", 10, "hash_agg:42")},
    ],
)
def test_every_part_changes_the_fingerprint(change):
    assert fp(**change).value != fp().value


def test_equal_runs_have_equal_fingerprints_whatever_the_option_order():
    a = fp(options={"params": {"a": 1, "b": [1, 2]}, "engine": None})
    b = fp(options={"engine": None, "params": {"b": (1, 2), "a": 1}})
    assert a.value == b.value and len(a.value) == 64


def test_reuse_only_when_the_record_matches_and_rescore_is_if_changed():
    current = fp()
    stored = record("DB.SC.T", "{}", current)
    assert may_reuse(stored, current, "if_changed", what="T").reuse
    assert not may_reuse(stored, current, "always", what="T").reuse
    assert not may_reuse(None, current, "if_changed", what="T").reuse
    changed = may_reuse(stored, fp(model_version="V2"), "if_changed", what="T")
    assert not changed.reuse and "model version V1 -> V2" in changed.reason
    # A record of another fingerprint release, or unreadable, never matches.
    assert not may_reuse(replace(stored, fingerprint="x"), current, "if_changed", what="T").reuse
    assert (
        "unreadable"
        in may_reuse(replace(stored, fingerprint="x", details="{"), current, "if_changed", what="T").reason
    )


def test_a_record_round_trips_through_its_row():
    stored = record("@DB.SC.OUT/p/JOB_1/", "{}", fp(), job_id="DB.SC.JOB_1")
    assert ScoringRun.from_row(stored.row()) == stored


def test_rescore_values_are_checked():
    assert check_rescore("if_changed") == "if_changed"
    with pytest.raises(ValueError, match="'if_changed' or 'always'"):
        check_rescore("sometimes")


def test_files_digest_sees_names_sizes_checksums_and_times_not_listing_order():
    a = StageFile("a.png", T0, size=10, md5="aa")
    b = StageFile("b.png", T0, size=12, md5="bb")
    base = files_digest([a, b])
    assert files_digest([b, a]) == base and base.count == 2 and base.kind == "files"
    for changed in (
        replace(b, path="c.png"),
        replace(b, size=13),
        replace(b, md5="bc"),
        replace(b, last_modified=T0.replace(second=1)),
    ):
        assert files_digest([a, changed]).hash != base.hash
    assert files_digest([a]).hash != base.hash


def test_wrap_hash_is_a_signed_64_bit_sum_that_duplicates_do_not_cancel():
    h = 2**63 + 5
    assert wrap_hash(h + h) != wrap_hash(0)  # XOR would cancel two equal rows; a sum does not
    assert wrap_hash(None) == 0 and -(2**63) <= wrap_hash(2**70 + 3) < 2**63


def test_the_local_hash_is_order_independent_null_aware_and_sees_every_value(tmp_path):
    """The local backend's HASH_AGG stand-in, on its own DuckDB: the properties Snowflake documents."""
    import pandas as pd

    from airflow_snowflake_batch.backends.base import InputSource
    from airflow_snowflake_batch.backends.local.backend import LocalBackend
    from airflow_snowflake_batch.local import LocalWorkspace

    workspace = LocalWorkspace(tmp_path / "ws")
    backend = LocalBackend(tmp_path / "ws", database=workspace.database.value, schema=workspace.schema.value)

    def digest(frame):
        workspace.write_table("T", frame)
        return backend.hash_input(InputSource(table=workspace.name("T")))

    base = pd.DataFrame({"A": [1, 2, 3], "B": ["x", None, "z"]})
    first = digest(base)
    assert first.count == 3 and first.hash.startswith("hash_agg:")
    assert digest(base.iloc[::-1]) == first  # row order
    assert digest(base.assign(B=["x", "y", "z"])) != first  # a NULL is not a value
    assert digest(base.assign(A=[1, 2, 4])) != first
    assert digest(pd.DataFrame({"A": [1, 1, 2, 2], "B": ["x"] * 4})) != digest(
        pd.DataFrame({"A": [3, 3, 4, 4], "B": ["x"] * 4})
    )  # pairs of equal rows do not cancel out
    assert digest(base.iloc[:0]).hash == "hash_agg:0"


def test_decide_reuses_a_finished_job_only_when_reusable_says_so():
    name = ObjectName.parse("DB.SC.JOB")
    names = jobs.job_names(name, 2)
    done = JobState("DB.SC.JOB", BatchJobStatus.DONE)
    states = {"DB.SC.JOB": done}

    reused = jobs.decide(names, lambda n: states.get(n.sql), lambda n: True, lambda n: Reuse(True, "same"))
    assert (reused.action, reused.job_name, reused.reason) == (jobs.Action.REUSE, name, "same")

    changed = jobs.decide(
        names, lambda n: states.get(n.sql), lambda n: True, lambda n: Reuse(False, "V1 -> V2")
    )
    assert (changed.action, changed.job_name.name.value, changed.stale) == (
        jobs.Action.SUBMIT,
        "JOB_T2",
        None,
    )
    assert "not reused: V1 -> V2" in changed.reason

    # The finished job under this try's own name (a fixed job_name) is cleared before resubmitting.
    own = jobs.decide(names[:1], lambda n: states.get(n.sql), lambda n: True, lambda n: Reuse(False, "x"))
    assert (own.action, own.job_name, own.stale) == (jobs.Action.SUBMIT, name, done)

    # A running job is re-attached to, whatever its fingerprint (reusable is not even asked).
    running = {"DB.SC.JOB": JobState("DB.SC.JOB", BatchJobStatus.RUNNING)}
    asked = []
    again = jobs.decide(names, lambda n: running.get(n.sql), lambda n: True, lambda n: asked.append(n))
    assert again.action is jobs.Action.REATTACH and asked == []
