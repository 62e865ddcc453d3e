"""Headless Chromium (Debian's ``chromium`` and ``chromium-driver``) driven by Selenium, for tests/ui."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMEDRIVER = ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")
# Loopback only and a 2-core machine: no GPU, no QUIC, nothing that phones home; a fresh profile.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
)


def find_chromium() -> tuple[str, str] | None:
    """(chromium, chromedriver) paths, or None when either is missing."""
    browser = next((p for p in CHROMIUM if Path(p).exists()), shutil.which("chromium"))
    driver = next((p for p in CHROMEDRIVER if Path(p).exists()), shutil.which("chromedriver"))
    return (browser, driver) if browser and driver else None


class Browser:
    """One Chromium session; :meth:`shot` saves numbered screenshots into ``shots``."""

    def __init__(self, shots: Path) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        found = find_chromium()
        assert found, "chromium and chromedriver are needed"
        self.profile = Path(tempfile.mkdtemp(prefix="ui-chromium-"))
        options = webdriver.ChromeOptions()
        options.binary_location = found[0]
        for flag in (*FLAGS, f"--user-data-dir={self.profile}"):
            options.add_argument(flag)
        self.driver = webdriver.Chrome(service=Service(executable_path=found[1]), options=options)
        self.driver.set_page_load_timeout(60)
        self.shots = shots
        self.shots.mkdir(parents=True, exist_ok=True)
        self._count = 0

    def quit(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)

    def get(self, url: str) -> None:
        self.driver.get(url)

    def text(self) -> str:
        from selenium.webdriver.common.by import By

        return str(self.driver.find_element(By.TAG_NAME, "body").text)

    def shot(self, name: str) -> Path:
        self._count += 1
        path = self.shots / f"{self._count:02d}-{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def wait(self, check: Callable[[], T], timeout: float, what: str, *, interval: float = 0.5) -> T:
        """Poll ``check`` (exceptions count as not yet) until truthy; screenshot and fail on timeout."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            try:
                if result := check():
                    return result
            except Exception as exc:  # an element not there yet, a page still loading
                last = exc
            time.sleep(interval)
        path = self.shot("timeout")
        raise AssertionError(
            f"Timed out after {timeout:.0f}s waiting for {what} (screenshot {path}; last: {last!r})"
        )

    def wait_text(self, needle: str, timeout: float = 60) -> str:
        return self.wait(lambda: needle in (t := self.text()) and t, timeout, f"{needle!r} on the page")

    def click_text(self, text: str, *, tag: str = "*", timeout: float = 30) -> None:
        """Click the first visible element of ``tag`` whose own text is ``text``."""
        from selenium.webdriver.common.by import By

        xpath = f"//{tag}[normalize-space(.)={_xpath_literal(text)}]"

        def click() -> bool:
            for element in self.driver.find_elements(By.XPATH, xpath):
                if element.is_displayed() and element.is_enabled():
                    element.click()
                    return True
            return False

        self.wait(click, timeout, f"a clickable {tag} {text!r}")


def _xpath_literal(text: str) -> str:
    if "'" not in text:
        return f"'{text}'"
    return "concat('" + "', \"'\", '".join(text.split("'")) + "')"
