"""The tiny per-framework applications of tests/frameworks, loaded when installed."""

from __future__ import annotations

import importlib
import warnings
from typing import Any

import pytest

FRAMEWORKS = ("django", "bottle", "falcon", "pyramid")


def load_app(framework: str) -> Any:
    """The WSGI app of `tests/frameworks/<framework>_app.py`; skips when not installed."""
    with warnings.catch_warnings():
        # WebOb (Pyramid's) still imports the `cgi` module, deprecated since Python 3.11.
        warnings.simplefilter("ignore", DeprecationWarning)
        pytest.importorskip(framework)
        module = importlib.import_module(f"tests.frameworks.{framework}_app")
    return getattr(module, "application", None) or module.app
