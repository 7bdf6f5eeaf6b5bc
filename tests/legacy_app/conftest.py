from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpdesk import legacy_server
from tests.servers import ServerProcess

UPLOAD_LIMIT = 4096


@pytest.fixture(scope="module")
def legacy_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("legacy") / "helpdesk.db"


@pytest.fixture(scope="module")
def legacy(legacy_db: Path) -> Iterator[ServerProcess]:
    with legacy_server(legacy_db, {"HELPDESK_MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT)}) as server:
        yield server


@pytest.fixture
def client(legacy: ServerProcess) -> Iterator[httpx.Client]:
    with legacy.client() as client:
        yield client
