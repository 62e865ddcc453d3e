"""``./scripts/demo.sh --ui``: a real Airflow with its UI on loopback, over the demo workspace.

The API server (UI and REST API), scheduler, dag-processor and triggerer run as separate processes
with LocalExecutor and SQLite in ``<demo>/airflow-home``; log in as ``admin`` / ``admin``. Ctrl-C
(SIGINT) or SIGTERM stops everything this Airflow started: the components, their task processes
and the detached local batch jobs (all found by their ``AIRFLOW_HOME``).

Two settings shape the demo:

- ``[scheduler] use_job_schedule = False``: the demo data is a fixed week, so the scheduler creates
  no runs of its own (a scheduled run of today would score no rows); runs come from the UI (Trigger,
  Backfill). Unpausing then creates no run either, so the Backfill dialog's "Unpause on trigger"
  never makes the scheduler create its latest scheduled run in the same second as the API server
  creates the backfill's runs: that interleaving of two writers on SQLite is what preceded a
  scheduler crash (``StaleDataError`` on ``dag_run``, apache/airflow#63926; the scheduler exits on
  any error its loop does not retry).
- A component that exits unexpectedly is restarted (at most ``MAX_RESTARTS`` times each), with a
  message naming its log, so a crash never leaves runs queued with nobody to schedule them.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import FrameType

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
HEALTH_KEYS = ("metadatabase", "scheduler", "triggerer", "dag_processor")
USER, PASSWORD = "admin", "admin"
MAX_RESTARTS = 5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def airflow_env(home: Path, dags_folder: Path, port: int, extra: dict[str, str]) -> dict[str, str]:
    """Every component's environment: loopback only, LocalExecutor, SQLite, a fixed admin login."""
    (home / "passwords.json").write_text(json.dumps({USER: PASSWORD}))
    base_url = f"http://127.0.0.1:{port}"
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__BASE_URL": base_url,
        "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base_url}/execution/",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(_free_port()),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__TRIGGER_TIMEOUT_CHECK_INTERVAL": "5",
        # See the module docstring: runs come from the UI only (and no #63926 crash on unpause).
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        **extra,
    }
    env.pop("AIRFLOW_CONFIG", None)
    return env


class DemoAirflow:
    """The four components, each in its own session (so Ctrl-C reaches only this supervisor, which
    then stops them in order), with output in ``<home>/logs/<component>.log``."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home, self.env = home, env
        self.base_url = env["AIRFLOW__API__BASE_URL"]
        self.logs = home / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.restarts = dict.fromkeys(COMPONENTS, 0)

    def start(self, name: str) -> None:
        with (self.logs / f"{name}.log").open("ab") as log:
            self.procs[name] = subprocess.Popen(
                ["airflow", name],
                env=self.env,
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base_url}/api/v2/monitor/health", timeout=5) as r:
                health = json.loads(r.read())
        except (OSError, ValueError):
            return False
        return all((health.get(k) or {}).get("status") == "healthy" for k in HEALTH_KEYS)

    def restart_dead(self) -> None:
        """Restart a component that exited (e.g. the scheduler after a database error)."""
        for name, proc in list(self.procs.items()):
            if proc.poll() is None:
                continue
            log = self.logs / f"{name}.log"
            if self.restarts[name] >= MAX_RESTARTS:
                raise RuntimeError(f"The {name} exited {MAX_RESTARTS + 1} times; see {log}")
            self.restarts[name] += 1
            print(
                f"\n!! The {name} exited (code {proc.returncode}); restarting it "
                f"({self.restarts[name]}/{MAX_RESTARTS}). Its log: {log}",
                flush=True,
            )
            self.start(name)

    def stop(self, grace: float = 30) -> None:
        """SIGTERM each component's process group, then SIGKILL what is left of this Airflow."""
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        import psutil

        # Task processes (their own process groups) and detached local jobs (their own sessions)
        # are not in the components' groups; they all carry this AIRFLOW_HOME.
        for _ in range(3):
            left = []
            for p in psutil.process_iter():
                with contextlib.suppress(psutil.Error):
                    if p.pid != os.getpid() and p.environ().get("AIRFLOW_HOME") == str(self.home):
                        left.append(p)
            if not left:
                break
            for p in left:
                with contextlib.suppress(psutil.Error):
                    p.kill()
            psutil.wait_procs(left, timeout=10)
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def serve(home: Path, dags_folder: Path, *, port: int, extra_env: dict[str, str], hints: list[str]) -> int:
    """Start Airflow, print how to reach it, keep it running until Ctrl-C; return the exit code."""
    if not _port_is_free(port):
        print(f"Port {port} on 127.0.0.1 is in use; choose another with --port.", file=sys.stderr)
        return 2
    env = airflow_env(home, dags_folder, port, extra_env)
    # Ctrl-C and `kill` stop it cleanly; set explicitly since a shell starts background jobs with SIGINT ignored.
    signal.signal(signal.SIGINT, _raise_interrupt)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    migrate = subprocess.run(
        ["airflow", "db", "migrate"], env=env, cwd=home, capture_output=True, text=True, check=False
    )
    if migrate.returncode != 0:
        print(migrate.stdout[-3000:], migrate.stderr[-3000:], file=sys.stderr)
        return 1
    airflow = DemoAirflow(home, env)
    started = time.monotonic()
    try:
        for name in COMPONENTS:
            airflow.start(name)
        print(f"  starting the API server, scheduler, dag-processor and triggerer (logs in {airflow.logs})")
        while not airflow.healthy():
            airflow.restart_dead()
            if time.monotonic() - started > 300:
                print(f"Airflow did not become healthy in 300 s; see {airflow.logs}", file=sys.stderr)
                return 1
            time.sleep(1)
        print(
            f"\nAirflow is up after {time.monotonic() - started:.0f}s: {airflow.base_url}\n"
            f"  login: {USER} / {PASSWORD}\n" + "".join(f"  {hint}\n" for hint in hints) + "Ctrl-C stops it.",
            flush=True,
        )
        while True:
            time.sleep(2)
            airflow.restart_dead()
    except KeyboardInterrupt:
        print("\nStopping Airflow ...", flush=True)
        return 0
    except RuntimeError as exc:
        print(f"\n{exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        airflow.stop()
        print("Airflow stopped.", flush=True)
