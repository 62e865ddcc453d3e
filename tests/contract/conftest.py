"""The ``side`` fixture: each contract test runs once per backend, with ids ``local`` and ``snowflake``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from contract_sides import LocalSide, Side, SnowflakeSide


@pytest.fixture(scope="session")
def local_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return LocalSide.template(tmp_path_factory.mktemp("contract") / "template")


@pytest.fixture(params=["local", "snowflake"])
def side(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Side]:
    if request.param == "local":
        yield LocalSide(tmp_path / "ws", monkeypatch, request.getfixturevalue("local_template"))
    else:
        yield SnowflakeSide(
            request.getfixturevalue("emulated_account"),
            request.getfixturevalue("emulated_schema"),
            request.getfixturevalue("emulated_conn_id"),
            monkeypatch,
        )
    # Job processes of this test's workspace that a failing test left behind (and only those).
    for process in psutil.process_iter(["cmdline"]):
        if any(str(tmp_path) in part for part in process.info["cmdline"] or []):
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
