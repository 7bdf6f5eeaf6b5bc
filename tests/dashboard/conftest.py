"""A real headless browser for the dashboard tests: Debian's chromium driven by Playwright.

Outside CI, a missing browser or Playwright skips the tests with a message saying what to
install; in CI (`CI=true`, set by `.ci/run`) it fails them, so a broken image cannot pass by
skipping. Playwright's own browser download (`playwright install`) is never used: the system's
chromium is launched by path.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser

# Chromium's background services would try to reach the network; the machines these tests run
# on have none, and the dashboard must not need it anyway.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def find_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def require_browser() -> str:
    """The chromium executable, or a skip (a failure in CI) naming what is missing."""
    missing = []
    chromium = find_chromium()
    if chromium is None:
        missing.append(
            "`chromium` is not on PATH (`apt-get install chromium`, or `make system-deps`)"
        )
    if importlib.util.find_spec("playwright") is None:
        missing.append(
            "the `playwright` Python package is not installed (`pip install playwright`, "
            "part of the `test` extra; `playwright install` is not needed)"
        )
    if missing or chromium is None:
        message = "the browser test needs: " + "; ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(message + "; CI never skips this test", pytrace=False)
        pytest.skip(message)
    return chromium


@pytest.fixture(scope="module", autouse=True)
def chromium() -> str:
    """Checked before any other fixture, so a missing browser skips before servers start."""
    return require_browser()


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # launch() starts chromium on a fresh temporary profile of its own (and refuses a
        # --user-data-dir argument); each test then opens a new context, so sessionStorage,
        # where the page keeps the token, is never shared between tests.
        browser = playwright.chromium.launch(
            executable_path=chromium, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()
