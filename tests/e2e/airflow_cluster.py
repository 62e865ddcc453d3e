"""A real Airflow (scheduler, triggerer, dag-processor, API server) on loopback, for end-to-end tests.

Each component runs in its own session with its output in ``<home>/logs/<component>.log``, so a test
can read them. :meth:`AirflowCluster.stop` ends every process of this Airflow, found by its
``AIRFLOW_HOME`` (LocalExecutor workers, task processes, detached local jobs), also when the test fails.
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
import urllib.error
import urllib.request
from collections.abc import Callable
from http import HTTPStatus
from pathlib import Path
from typing import Any, TypeVar

import psutil
import tenacity

COMPONENTS = ("scheduler", "triggerer", "dag-processor", "api-server")
# What a triggerer logs when its trigger runner dies (apache/airflow#64620 on Airflow 3.1 and 3.2.1:
# an Airflow SDK call from a worker thread of a trigger corrupts the runner's comms, and the
# triggerer exits a second later).
TRIGGERER_CRASH_LINES = ("Trigger runner process has died", "Response read out of order")
HEALTH_KEYS = ("metadatabase", "scheduler", "triggerer", "dag_processor")
USER, PASSWORD = "admin", "admin"

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AirflowCluster:
    """Airflow with LocalExecutor and SQLite in ``home``; DAG files go in :attr:`dags_folder` before start.

    :param home: an empty folder used as ``AIRFLOW_HOME``.
    :param extra_env: variables added to every component's environment (connections, backend settings).
    """

    def __init__(self, home: Path, extra_env: dict[str, str] | None = None) -> None:
        self.home = home
        self.dags_folder = home / "dags"
        self.logs_folder = home / "logs"
        self.dags_folder.mkdir(parents=True, exist_ok=True)
        self.logs_folder.mkdir(parents=True, exist_ok=True)
        port = free_port()
        self.base_url = f"http://127.0.0.1:{port}"
        (home / "passwords.json").write_text(json.dumps({USER: PASSWORD}))
        bin_dir = str(Path(sys.executable).parent)
        self.env = {
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "AIRFLOW_HOME": str(home),
            # SQLite waits up to 60 s for a lock (Python's default: 5 s). On a busy 2-core machine a
            # write (creating a backfill) can wait longer than 5 s for the scheduler's; Airflow 3.3
            # answers that with a 503 (asked again by api()), 3.1 and 3.2 with a 500.
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}?timeout=60",
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.logs_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "6",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__BASE_URL": self.base_url,
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__TRIGGER_TIMEOUT_CHECK_INTERVAL": "2",
            # Only the runs a test creates (backfills): unpausing must not add a scheduled run.
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
            **(extra_env or {}),
        }
        self.env.pop("AIRFLOW_CONFIG", None)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._token: str | None = None

    # -- life cycle ----------------------------------------------------------------------------

    def start(self, *, timeout: float = 240) -> None:
        """Migrate the database, start the four components, wait until all report healthy."""
        self._run_cli(["db", "migrate"], timeout=timeout)
        for name in COMPONENTS:
            self.start_component(name)
        self.until(self._healthy, timeout, what="all components healthy")

    def start_component(self, name: str, command: str | None = None) -> None:
        """Start one component (``command`` defaults to ``name``: a second triggerer is
        ``start_component("triggerer-2", "triggerer")``); its output is appended to ``<name>.log``."""
        log = open(self.logs_folder / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        self.procs[name] = subprocess.Popen(
            ["airflow", command or name],
            env=self.env,
            cwd=self.home,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() ends it with its children
        )
        log.close()

    def kill_component(self, name: str) -> None:
        """SIGKILL a component's whole process group (a crash: no clean-up runs) and forget it."""
        proc = self.procs.pop(name)
        _signal_group(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=30)

    def stop(self, *, grace: float = 30) -> None:
        """SIGTERM every component's process group, wait up to ``grace`` seconds for the components
        to exit, then SIGKILL every process of this Airflow that is left (see :meth:`processes`)."""
        for proc in self.procs.values():
            _signal_group(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        for proc in self.procs.values():
            _signal_group(proc.pid, signal.SIGKILL)
        # A few rounds: a process may fork while the previous round kills its parent.
        for _ in range(5):
            if not (left := self.processes()):
                break
            for p in left:
                with contextlib.suppress(psutil.NoSuchProcess):
                    p.kill()
            psutil.wait_procs(left, timeout=10)
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):  # SIGKILL was sent: only a zombie could stay
                proc.wait(timeout=10)
        self.procs.clear()

    def __enter__(self) -> AirflowCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def component_processes(self) -> list[psutil.Process]:
        """The components and every process they started, as of now."""
        found: list[psutil.Process] = []
        for proc in self.procs.values():
            try:
                root = psutil.Process(proc.pid)
                found += [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                pass
        return found

    def processes(self) -> list[psutil.Process]:
        """Every live process of this Airflow, found by the ``AIRFLOW_HOME`` in its environment.

        Every process the components start inherits it, so this also finds what neither the process
        tree nor the process groups hold: task processes (Airflow 3.3 gives each its own process
        group), detached local batch jobs (their own session), the processes of a component
        killed by :meth:`kill_component`, and orphans re-parented to init. Zombies are left out:
        they hold no resources and only their parent can reap them.
        """
        home = str(self.home)
        found = []
        for p in psutil.process_iter(["status"]):
            if p.pid == os.getpid() or p.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            with contextlib.suppress(psutil.Error):  # ended meanwhile, or another user's
                if p.environ().get("AIRFLOW_HOME") == home:
                    found.append(p)
        return found

    def triggerer_problems(self) -> list[str]:
        """Why the triggerer is not healthy, or ``[]``: a crash line in a triggerer's log, or the
        triggerer process gone. Call it before :meth:`stop` (which ends the process)."""
        problems = []
        proc = self.procs.get("triggerer")
        if proc is None or proc.poll() is not None:
            problems.append(f"the triggerer exited (code {None if proc is None else proc.returncode})")
        for log in sorted(self.logs_folder.glob("triggerer*.log")):
            text = log.read_text(errors="replace")
            problems += [
                f"{log.name}: {line.strip()[:300]}"
                for line in text.splitlines()
                if any(crash in line for crash in TRIGGERER_CRASH_LINES)
            ]
        return problems

    def log_text(self, component: str) -> str:
        return (self.logs_folder / f"{component}.log").read_text(errors="replace")

    def task_log_text(self, dag_id: str) -> str:
        """All task logs of a DAG, concatenated."""
        return "\n".join(
            p.read_text(errors="replace")
            for p in sorted((self.logs_folder / f"dag_id={dag_id}").rglob("*.log"))
        )

    # -- REST API ------------------------------------------------------------------------------

    @tenacity.retry(
        retry=tenacity.retry_if_result(lambda answer: answer[0] == HTTPStatus.SERVICE_UNAVAILABLE),
        wait=tenacity.wait_exponential(multiplier=0.5, max=5),
        stop=tenacity.stop_after_delay(90),
        retry_error_callback=lambda state: state.outcome.result(),
    )
    def api(self, method: str, path: str, body: Any = None) -> tuple[int | None, Any]:
        """Call the REST API; (HTTP status, JSON body), or (None, None) when nothing answers.

        A 503 is asked again: on SQLite the API server answers it while another component holds
        the database lock (creating a backfill does so on a busy 2-core machine), a passing state.
        """
        headers = {"Content-Type": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as err:
            payload = err.read()
            try:
                return err.code, json.loads(payload or b"null")
            except ValueError:
                return err.code, payload.decode(errors="replace")
        except OSError:
            return None, None

    def login(self) -> None:
        status, body = self.api("POST", "/auth/token", {"username": USER, "password": PASSWORD})
        if status not in (200, 201):
            raise RuntimeError(f"Login to {self.base_url} failed: HTTP {status} {body}")
        self._token = body["access_token"]

    def wait_for_dag(self, dag_id: str, timeout: float = 180) -> None:
        self.until(
            lambda: self.api("GET", f"/api/v2/dags/{dag_id}")[0] == 200, timeout, what=f"DAG {dag_id} parsed"
        )

    def until(self, check: Callable[[], T], timeout: float, *, what: str) -> T:
        """Poll ``check`` until it returns something truthy; fail early if a component died."""
        deadline = time.monotonic() + timeout
        while True:
            if dead := [n for n, p in self.procs.items() if p.poll() is not None]:
                crashes = "".join(f"\n  {line}" for line in self.triggerer_problems() if ".log: " in line)
                raise RuntimeError(
                    f"Airflow component(s) {dead} exited while waiting for {what}; see {self.logs_folder}"
                    + crashes
                )
            if result := check():
                return result
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"Timed out after {timeout:.0f}s waiting for {what}; logs in {self.logs_folder}"
                )
            time.sleep(0.5)

    # -- helpers -------------------------------------------------------------------------------

    def _healthy(self) -> bool:
        status, health = self.api("GET", "/api/v2/monitor/health")
        return status == 200 and all((health.get(k) or {}).get("status") == "healthy" for k in HEALTH_KEYS)

    def _run_cli(self, args: list[str], *, timeout: float) -> None:
        result = subprocess.run(
            ["airflow", *args], env=self.env, cwd=self.home, capture_output=True, text=True, timeout=timeout
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"`airflow {' '.join(args)}` failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
            )


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
