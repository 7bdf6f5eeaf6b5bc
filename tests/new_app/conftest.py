from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpdesk import legacy_server, new_server
from tests.servers import ServerProcess


@pytest.fixture(scope="module")
def new_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Not created here: the app's lifespan must create and seed it.
    return tmp_path_factory.mktemp("new") / "helpdesk.db"


@pytest.fixture(scope="module")
def new(new_db: Path) -> Iterator[ServerProcess]:
    with new_server(new_db) as server:
        yield server


@pytest.fixture(scope="module")
def legacy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with legacy_server(tmp_path_factory.mktemp("legacy") / "helpdesk.db") as server:
        yield server


@pytest.fixture
def client(new: ServerProcess) -> Iterator[httpx.Client]:
    with new.client() as client:
        yield client
