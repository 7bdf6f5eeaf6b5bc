from __future__ import annotations

import pytest

from tests.compat.pair_apps import Pair, create_pair


@pytest.fixture
def pair() -> Pair:
    """A fresh Flask app and FastAPI app sharing it, so tests never share counts or sessions."""
    return create_pair()
