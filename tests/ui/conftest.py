"""tests/ui: skipped only when Chromium is not installed (``apt-get install chromium chromium-driver``)."""

from __future__ import annotations

import pytest

from .browser import find_chromium

INSTALL = "apt-get update && apt-get install -y chromium chromium-driver"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if find_chromium() is not None:
        return
    skip = pytest.mark.skip(reason=f"needs Debian's chromium and chromium-driver: {INSTALL}")
    for item in items:
        if "tests/ui/" in item.nodeid:
            item.add_marker(skip)
