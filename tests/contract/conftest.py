"""The ``side`` fixture: each contract test runs once per backend, with ids ``local`` and ``snowflake``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from contract_sides import LocalSide, Side, SnowflakeSide


@pytest.fixture(params=["local", "snowflake"])
def side(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Side]:
    with contextlib.ExitStack() as stack:
        if request.param == "local":
            yield LocalSide(tmp_path / "ws", monkeypatch)
        else:
            yield SnowflakeSide(tmp_path, monkeypatch, stack)
