"""The dashboard's Migration view, in a real browser: the inventory and the shares on new."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.servers import ServerProcess, run_gateway

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage

TOKEN = "migration-view-token"
ROUTES = """\
default: legacy
routes:
  - {path: "/api/items/{item_id}", methods: [GET], target: new}
"""


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    routes: Path = tmp_path_factory.mktemp("migration") / "routes.yaml"
    routes.write_text(ROUTES, encoding="utf-8")
    with run_gateway(routes, env={"GATEWAY_ADMIN_TOKEN": TOKEN}) as server:
        with server.client() as client:
            for item in range(3):
                assert client.get(f"/api/items/{item}").status_code == 200  # new
            assert client.get("/api/items").status_code == 200  # legacy
        yield server


def test_the_migration_view_shows_the_inventory_and_the_share_on_new(
    browser: Browser, gateway: ServerProcess
) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(f"{gateway.base_url}/_gateway/#token={TOKEN}")
        moved = page.locator('#inventory tr[data-endpoint="GET /api/items/{item_id:int}"]')
        moved.wait_for(timeout=30_000)
        assert moved.locator("td").nth(0).inner_text() == "done"
        assert moved.locator("td").nth(2).inner_text() == "new"
        listing = page.locator('#inventory tr[data-endpoint="GET /api/items"]')
        assert listing.locator("td").nth(0).inner_text().isdigit()  # has a place in the order
        assert listing.locator("td").nth(8).inner_text() == "25%"  # 1 of 4 requests
        endpoints = page.locator('[data-card="endpoints-new"] .value').inner_text()
        assert endpoints.startswith("1 of ")
        traffic = page.locator('[data-card="traffic-new"] .value').inner_text()
        assert traffic.startswith("75%")  # 3 of the 4 requests
        assert errors == []
    finally:
        context.close()
