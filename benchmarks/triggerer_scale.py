"""How many deferred batch jobs one triggerer can watch: achieved vs asked poll interval, loop lag, load.

N triggers run on one event loop, as on a triggerer, against a simulated Snowflake whose login and
every query each block the calling thread for ``--latency`` seconds (100 ms by default). Four designs
run in the same process, one after the other, with the same N, interval and duration:

- ``ours``: the real :class:`SnowflakeBatchInferenceJobTrigger` with the real hook and Snowflake
  backend; only the Snowpark session is simulated (the hook's ``_connect`` returns a
  fake session whose ``sql(...).collect()`` blocks), so the benchmark measures whatever design the
  code has;
- ``per-task session``: the previous design's pattern: one session per trigger (a login each), one
  blocking status call per trigger and interval in asyncio's default executor;
- ``official``: the pattern of the Snowflake provider's ``SnowparkContainerJobTrigger``: every poll is
  ``SnowflakeHook.run("DESCRIBE SERVICE ...")`` in a thread, which logs in and queries;
- ``ideal``: an ideal async poller: each trigger awaits a non-blocking status call of the same latency.

``ours`` also logs each job's progress (:mod:`airflow_snowflake_batch.inference.progress`): one extra
``LIST`` of the job's folder per ``--progress-interval`` (a minute in production; by default here a third
of the run, so a short run shows the calls). The report's last columns count those calls, and per job
and progress interval: the design promises at most 1.

Per design it prints the achieved/asked interval (median job and worst job: mean gap between a job's
consecutive checks over the asked interval), event-loop lag p99 (a 50 ms ticker's overshoot), and the
load on Snowflake (queries and logins per interval, peak open sessions). Ratios are of the same run;
nothing is asserted.

Run: ``.venv/bin/python benchmarks/triggerer_scale.py`` (N = 100, 500, 1000; 5 s interval; 30 s each)
or ``--smoke`` (CI: N = 20, 0.5 s, 2.5 s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import statistics
import threading
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

CONN_ID = "bench_sf"
SCHEMA = "ML.PUBLIC"


@dataclass
class Snowflake:
    """The simulated account: counts logins and queries, and blocks the caller like a round trip."""

    latency: float
    jobs: list[str] = field(default_factory=list)
    logins: int = 0
    queries: int = 0
    open_sessions: int = 0
    peak_sessions: int = 0
    lists: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def login(self) -> None:
        time.sleep(self.latency)
        with self.lock:
            self.logins += 1
            self.open_sessions += 1
            self.peak_sessions = max(self.peak_sessions, self.open_sessions)

    def logout(self) -> None:
        with self.lock:
            self.open_sessions -= 1

    def query(self) -> None:
        time.sleep(self.latency)
        with self.lock:
            self.queries += 1


class _Row(dict):
    def as_dict(self) -> dict[str, Any]:
        return self


class FakeSession:
    """The Snowpark session the real backend gets: ``SHOW JOB SERVICES`` lists every job RUNNING."""

    def __init__(self, account: Snowflake) -> None:
        self.account = account

    def sql(self, text: str, params: Any = None) -> Any:
        session = self

        class Result:
            def collect(self) -> list[_Row]:
                session.account.query()
                if text.startswith("SHOW JOB SERVICES"):
                    return [_Row(name=j.rsplit(".", 1)[1], status="RUNNING") for j in session.account.jobs]
                if text.startswith("LIST "):  # a job's progress: two result files written so far
                    session.account.lists += 1
                    return [_Row(name=f"out/job/data_{k}.parquet") for k in range(2)]
                raise NotImplementedError(text)

        return Result()

    def update_query_tag(self, tag: Any) -> None:
        pass

    def close(self) -> None:
        self.account.logout()


@dataclass
class Run:
    checks: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    lags: list[float] = field(default_factory=list)

    def check(self, job: str) -> None:
        self.checks[job].append(time.monotonic())


async def _lag_monitor(run: Run, stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        start = loop.time()
        await asyncio.sleep(0.05)
        run.lags.append(loop.time() - start - 0.05)


async def _drive(n: int, duration: float, interval: float, watch: Callable[[str], Awaitable[Any]]) -> Run:
    """Start n watchers spread over one interval (tasks defer at different times), stop after duration."""
    run = Run()
    stop = asyncio.Event()
    monitor = asyncio.create_task(_lag_monitor(run, stop))
    rng = random.Random(0)

    async def one(job: str) -> None:
        await asyncio.sleep(rng.uniform(0, interval))
        await watch(job)

    tasks = [asyncio.create_task(one(f"{SCHEMA}.JOB_{i:05d}")) for i in range(n)]
    await asyncio.sleep(duration)
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, monitor, return_exceptions=True)
    return run


PROGRESS_INTERVAL: float = 60.0  # set by main() from --progress-interval


def run_ours(account: Snowflake, n: int, duration: float, interval: float) -> Run:
    from airflow_snowflake_batch.hooks.batch_inference import SnowflakeBatchInferenceHook
    from airflow_snowflake_batch.triggers.batch_job import SnowflakeBatchInferenceJobTrigger

    run = Run()
    real_states = SnowflakeBatchInferenceHook.get_job_states

    def counted_states(self: Any, job_ids: Any) -> Any:
        for job in job_ids:
            run.check(job)
        return real_states(self, job_ids)

    def login(self: Any) -> FakeSession:
        account.login()
        return FakeSession(account)

    async def watch(job: str) -> None:
        trigger = SnowflakeBatchInferenceJobTrigger(
            job_id=job,
            snowflake_conn_id=CONN_ID,
            poll_interval=interval,
            output_location=f"@{SCHEMA}.OUT/{job.rsplit('.', 1)[1]}/",
            progress_interval=PROGRESS_INTERVAL,
        )
        async for _ in trigger.run():
            return

    with (
        mock.patch.object(SnowflakeBatchInferenceHook, "_connect", login),
        mock.patch.object(SnowflakeBatchInferenceHook, "get_job_states", counted_states),
    ):
        timing = asyncio.run(_drive(n, duration, interval, watch))
    run.lags = timing.lags
    return run


def run_per_task_session(account: Snowflake, n: int, duration: float, interval: float) -> Run:
    run = Run()

    async def watch(job: str) -> None:
        await asyncio.to_thread(account.login)
        try:
            while True:
                await asyncio.sleep(interval)
                run.check(job)
                await asyncio.to_thread(account.query)
        finally:
            account.logout()

    run.lags = asyncio.run(_drive(n, duration, interval, watch)).lags
    return run


def run_official(account: Snowflake, n: int, duration: float, interval: float) -> Run:
    run = Run()

    def describe_service() -> None:  # SnowflakeHook.run: connect, execute, close
        account.login()
        try:
            account.query()
        finally:
            account.logout()

    async def watch(job: str) -> None:
        while True:
            run.check(job)
            await asyncio.to_thread(describe_service)
            await asyncio.sleep(interval)

    run.lags = asyncio.run(_drive(n, duration, interval, watch)).lags
    return run


def run_ideal(account: Snowflake, n: int, duration: float, interval: float) -> Run:
    run = Run()

    async def watch(job: str) -> None:
        while True:
            await asyncio.sleep(interval)
            run.check(job)
            await asyncio.sleep(account.latency)
            account.queries += 1

    run.lags = asyncio.run(_drive(n, duration, interval, watch)).lags
    return run


DESIGNS = {
    "ours": run_ours,
    "per-task session": run_per_task_session,
    "official": run_official,
    "ideal": run_ideal,
}


def _ratios(run: Run, interval: float) -> tuple[float, float]:
    """(median job, worst job) of mean gap between consecutive checks / asked interval."""
    per_job = [
        statistics.fmean(b - a for a, b in zip(times, times[1:], strict=False)) / interval
        for times in run.checks.values()
        if len(times) >= 2
    ]
    if not per_job:
        return float("inf"), float("inf")
    return statistics.median(per_job), max(per_job)


def _p99(values: list[float]) -> float:
    return sorted(values)[int(0.99 * (len(values) - 1))] if values else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for CI")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 500, 1000])
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--designs", nargs="+", default=list(DESIGNS), choices=list(DESIGNS))
    parser.add_argument(
        "--progress-interval", type=float, default=None, help="default: a third of --duration"
    )
    args = parser.parse_args()
    if args.smoke:
        args.sizes, args.interval, args.duration = [20], 0.5, 2.5
    global PROGRESS_INTERVAL
    PROGRESS_INTERVAL = args.progress_interval or args.duration / 3

    # A triggerer logs to per-trigger files; keep this console quiet (set before Airflow is imported).
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    logging.disable(logging.WARNING)
    os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = json.dumps(
        {
            "conn_type": "snowflake",
            "login": "bench",
            "password": "bench",
            "schema": "PUBLIC",
            "extra": {"account": "bench", "database": "ML", "warehouse": "WH"},
        }
    )
    print(
        f"interval {args.interval}s, {args.duration}s per run, simulated login and query {args.latency * 1000:.0f} ms, "
        f"{os.cpu_count()} CPUs; progress look every {PROGRESS_INTERVAL:g}s (production: 60s)"
    )
    header = f"{'N':>6} {'design':<17} {'achieved/asked':>15} {'worst job':>10} {'lag p99 ms':>11} {'queries/interval':>17} {'logins':>7} {'peak sessions':>14} {'progress calls':>15} {'per job/interval':>17}"
    print(header)
    for n in args.sizes:
        for name in args.designs:
            account = Snowflake(latency=args.latency, jobs=[f"{SCHEMA}.JOB_{i:05d}" for i in range(n)])
            run = DESIGNS[name](account, n, args.duration, args.interval)
            median, worst = _ratios(run, args.interval)
            per_interval = (account.queries - account.lists) / (args.duration / args.interval)
            # Progress looks per job per progress interval ("ours" only; at most 1 by design).
            per_job = account.lists / n / (args.duration / PROGRESS_INTERVAL)
            print(
                f"{n:>6} {name:<17} {median:>15.2f} {worst:>10.2f} {_p99(run.lags) * 1000:>11.1f} "
                f"{per_interval:>17.1f} {account.logins:>7} {account.peak_sessions:>14} "
                f"{account.lists:>15} {per_job:>17.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
