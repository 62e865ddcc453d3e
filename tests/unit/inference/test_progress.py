"""The progress decision on a virtual clock: when a wait may look (one call per job per interval) and
what it says (rows so far, the time left from the observed rate)."""

from __future__ import annotations

import pytest

from airflow_snowflake_batch.inference.progress import PROGRESS_INTERVAL, ProgressLog, format_duration


def looks(log: ProgressLog, times: list[float]) -> list[float]:
    return [t for t in times if log.due(t)]


def test_a_wait_polled_every_5s_for_10_minutes_looks_once_a_minute_after_the_first_minute():
    log = ProgressLog(started=1000.0)

    due = looks(log, [1000.0 + 5 * k for k in range(121)])

    assert PROGRESS_INTERVAL == 60.0
    assert due == [1060.0 + 60 * k for k in range(10)]


def test_a_late_check_does_not_catch_up_with_a_burst():
    log = ProgressLog(started=0.0, interval=60.0)

    # The triggerer was busy: the checks came at 200 s, 201 s, 250 s, 261 s.
    assert looks(log, [200.0, 201.0, 250.0, 261.0]) == [200.0, 261.0]


def test_a_job_that_ends_within_the_first_interval_costs_no_look():
    log = ProgressLog(started=0.0, interval=60.0)

    assert looks(log, [5.0, 10.0, 59.9]) == []


def test_time_left_comes_from_the_rate_between_the_first_and_latest_look():
    log = ProgressLog(started=0.0)

    first = log.line("DB.SC.JOB", 60.0, 10_000, 100_000, "rows")
    second = log.line("DB.SC.JOB", 120.0, 30_000, 100_000, "rows")

    assert first == "Job DB.SC.JOB: 10,000 of 100,000 rows scored (10%); time left not known yet."
    # 20,000 rows in 60 s: 70,000 left take 210 s.
    assert second == "Job DB.SC.JOB: 30,000 of 100,000 rows scored (30%); about 3m30s left."


def test_no_estimate_while_nothing_moved_or_when_the_total_is_unknown():
    log = ProgressLog(started=0.0)
    log.seconds_left(60.0, 500, 1000)

    assert log.seconds_left(120.0, 500, 1000) is None  # no rate yet
    assert log.seconds_left(180.0, 800, None) is None
    assert log.line("J", 240.0, 4, None, "files") == (
        "Job J: 4 files written so far (the total is not known, so no time-left estimate)."
    )


def test_a_count_that_went_down_starts_a_new_baseline():
    log = ProgressLog(started=0.0)
    log.seconds_left(60.0, 900, 1000)

    # The job restarted its work (e.g. a replica was replaced): no estimate from the old baseline.
    assert log.seconds_left(120.0, 100, 1000) is None
    assert log.seconds_left(180.0, 400, 1000) == pytest.approx(120.0)


@pytest.mark.parametrize("interval", [0.0, -1.0, float("inf"), float("nan")])
def test_a_bad_interval_is_refused(interval):
    with pytest.raises(ValueError, match="progress interval"):
        ProgressLog(started=0.0, interval=interval)


def test_durations_round_up():
    assert [format_duration(s) for s in (0.2, 59.5, 61, 3599.5, 7322)] == [
        "1s",
        "1m00s",
        "1m01s",
        "1h00m",
        "2h02m",
    ]
