from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.compat.pair_apps import Pair


@pytest.fixture
def pair() -> Pair:
    """A fresh Flask app and FastAPI app sharing it, so tests never share counts or sessions."""
    # Imported here: tests/compat/test_versions.py also runs beside a Flask this package
    # refuses, where importing the pair (and Flask-Login) would fail before any test ran.
    from tests.compat.pair_apps import create_pair

    return create_pair()
