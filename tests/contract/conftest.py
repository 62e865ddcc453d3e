"""The ``side`` fixture: each contract test runs once per backend, with ids ``local`` and ``snowflake``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from contract_sides import LocalSide, Side, SnowflakeDoubles, SnowflakeSide


@pytest.fixture(scope="session")
def local_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return LocalSide.template(tmp_path_factory.mktemp("contract") / "template")


@pytest.fixture(scope="session")
def snowflake_doubles() -> SnowflakeDoubles:
    return SnowflakeDoubles()


@pytest.fixture(params=["local", "snowflake"])
def side(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Side]:
    with contextlib.ExitStack() as stack:
        if request.param == "local":
            yield LocalSide(tmp_path / "ws", monkeypatch, request.getfixturevalue("local_template"))
        else:
            yield SnowflakeSide(tmp_path, monkeypatch, stack, request.getfixturevalue("snowflake_doubles"))
    # Job processes of this test's workspace that a failing test left behind (and only those).
    for process in psutil.process_iter(["cmdline"]):
        if any(str(tmp_path) in part for part in process.info["cmdline"] or []):
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
