"""fakesnow's HTTP server in a thread, with the emulator in front of its query route.

The real Snowflake connector (under Snowpark, snowflake-ml and ``SnowflakeHook``) logs in and sends
each statement to ``/queries/v1/query-request``. :class:`EmulatorServer` reads the statement first:
the emulator may answer it (a result table or a Snowflake error), rewrite it into SQL fakesnow runs,
or leave it to fakesnow unchanged. Everything else (login, PUT uploads, heartbeats) is fakesnow's.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa


@dataclass(frozen=True)
class Query:
    """One statement as the client sent it."""

    text: str
    params: tuple[Any, ...] | None
    describe_only: bool
    session: str = ""  # the client's session token (its Authorization header)


@dataclass(frozen=True)
class Answer:
    """Rows the emulator computed itself (column names as Snowflake returns them)."""

    table: pa.Table


@dataclass(frozen=True)
class Rewrite:
    """SQL for fakesnow to run instead of what the client sent."""

    text: str


class SqlError(Exception):
    """A Snowflake error for the client (``errno`` as Snowflake numbers it, e.g. 2003: does not exist)."""

    def __init__(self, errno: int, message: str, sqlstate: str = "02000") -> None:
        super().__init__(message)
        self.errno = errno
        self.sqlstate = sqlstate


Handler = Callable[[Query], "Answer | Rewrite | None"]
SessionEnd = Callable[[str], None]


def status_answer(message: str = "Statement executed successfully.") -> Answer:
    return Answer(pa.table({"status": [message]}))


def _rowtype(table: pa.Table) -> list[dict[str, Any]]:
    import duckdb
    from fakesnow.rowtype import describe_as_rowtype

    con = duckdb.connect()
    try:
        con.register("answer", table)
        return describe_as_rowtype(con.execute("DESCRIBE SELECT * FROM answer").fetchall())  # type: ignore[return-value]
    finally:
        con.close()


def _answer_response(answer: Answer, describe_only: bool) -> Any:
    from base64 import b64encode

    from fakesnow.arrow import to_ipc, to_sf
    from starlette.responses import JSONResponse

    table = answer.table
    rowtype = _rowtype(table)
    if describe_only:
        table = table.slice(0, 0)
    rows = b64encode(to_ipc(to_sf(table, rowtype))).decode() if table.num_rows else ""  # type: ignore[arg-type]
    return JSONResponse(
        {
            "data": {
                "rowtype": rowtype,
                "total": table.num_rows,
                "returned": table.num_rows,
                "queryId": f"emulated-{time.monotonic_ns()}",
                "statementTypeId": 4096,  # SELECT: clients read the rows of any statement alike
                "queryResultFormat": "arrow",
                "rowsetBase64": rows,
            },
            "success": True,
        }
    )


def _error_response(error: SqlError) -> Any:
    from starlette.responses import JSONResponse

    code = f"{error.errno:06d}"
    return JSONResponse(
        {
            "data": {"errorCode": code, "sqlState": error.sqlstate},
            "code": code,
            "message": str(error),
            "success": False,
        }
    )


def _params(body: dict[str, Any]) -> tuple[Any, ...] | None:
    from fakesnow.converter import from_binding

    bindings = body.get("bindings")
    if not bindings or not all(k.isdigit() for k in bindings):
        return None
    if any(isinstance(b["value"], list) for b in bindings.values()):
        return None  # array bindings (executemany) are fakesnow's
    return tuple(from_binding(bindings[str(i)]) for i in range(1, len(bindings) + 1))


def build_app(handler: Handler, session_end: SessionEnd | None = None) -> Any:
    """fakesnow's Starlette app, its query route going through ``handler`` first; ``session_end`` is
    told the token of each session the client closes."""
    import fakesnow.server as fs
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def query_request(request: Request) -> Any:
        raw = await request.body()
        gzipped = request.headers.get("Content-Encoding") == "gzip"
        body = json.loads(gzip.decompress(raw) if gzipped else raw)
        query = Query(
            body["sqlText"],
            _params(body),
            bool(body.get("describeOnly")),
            request.headers.get("Authorization", ""),
        )
        try:
            outcome = await run_in_threadpool(handler, query)
        except SqlError as error:
            return _error_response(error)
        except Exception as exc:  # an emulator bug: fail the statement at once (a 500 would be retried)
            logging.getLogger(__name__).exception("Emulator failed on %r", query.text)
            return _error_response(SqlError(999999, f"Emulator error: {type(exc).__name__}: {exc}", "XX000"))
        if isinstance(outcome, Answer):
            return _answer_response(outcome, query.describe_only)
        if isinstance(outcome, Rewrite):
            body["sqlText"] = outcome.text
            encoded = json.dumps(body).encode()
            request._body = gzip.compress(encoded) if gzipped else encoded  # noqa: SLF001 - re-read by fakesnow
        return await fs.query_request(request)

    async def login_request(request: Request) -> Any:
        # fakesnow sends no master token, and without one the connector cannot log out: its
        # connection stays open and retries the stopped server from an atexit handler.
        response = await fs.login_request(request)
        body = json.loads(response.body)
        body["data"]["masterToken"] = "emulated-master-token"
        return JSONResponse(body)

    async def session_request(request: Request) -> Any:
        if session_end is not None and request.query_params.get("delete"):
            await run_in_threadpool(session_end, request.headers.get("Authorization", ""))
        return await fs.session(request)

    replaced = {
        "/queries/v1/query-request": query_request,
        "/session/v1/login-request": login_request,
        "/session": session_request,
    }
    routes = [
        Route(route.path, replaced[route.path], methods=["POST"]) if route.path in replaced else route
        for route in fs.routes
    ]
    return Starlette(debug=True, routes=routes)


class EmulatorServer:
    """Serve the app on a free loopback port in a daemon thread until :meth:`stop`."""

    def __init__(self, handler: Handler, session_end: SessionEnd | None = None) -> None:
        import uvicorn

        with contextlib.closing(socket.socket()) as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            build_app(handler, session_end), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="emulated-snowflake", daemon=True)

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("The emulated Snowflake server did not start.")
            time.sleep(0.05)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)

    @property
    def connect_kwargs(self) -> dict[str, Any]:
        """Arguments for ``snowflake.connector.connect`` / ``Session.builder.configs``."""
        return {
            "user": "fake",
            "password": "snow",
            "account": "fakesnow",
            "host": "127.0.0.1",
            "port": self.port,
            "protocol": "http",
            "session_parameters": {"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False},
            "network_timeout": 5,
        }
