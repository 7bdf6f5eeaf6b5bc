"""Programs the deploy/ tests run for real: Debian's `prometheus` package provides both.

Outside CI a missing program skips its tests with a message saying how to install it; in CI
(`CI=true`, set by `.ci/run`) it fails them, so a broken CI image cannot pass by skipping.
"""

from __future__ import annotations

import os
import shutil

import pytest


def require_program(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is not None:
        return path
    message = (
        f"`{name}` is not on PATH: install Debian's {package} package "
        f"(`apt-get install {package}`, or `make system-deps`)"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(message + "; CI never skips this test", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def promtool() -> str:
    return require_program("promtool", "prometheus")


@pytest.fixture(scope="session")
def prometheus() -> str:
    return require_program("prometheus", "prometheus")
