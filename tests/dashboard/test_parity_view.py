"""The dashboard's parity view, in a real browser: readiness per route from the ledger, the
differences grouped, samples shown as text (a client's header never becomes markup)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.gateway.test_server import metric
from tests.servers import ServerProcess, run_gateway
from tests.waiting import wait_for

if TYPE_CHECKING:
    from playwright.sync_api import Browser

TOKEN = "parity-view-token"
ROUTES = """\
default: legacy
routes:
  - {path: "/books/{id}", target: shadow}
  - {path: "/authors/{id}", target: shadow}
"""
EVIL = '<img src=x onerror="window.__xss = 1">'


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    routes: Path = tmp_path_factory.mktemp("parity-view") / "routes.yaml"
    routes.write_text(ROUTES, encoding="utf-8")
    env = {"GATEWAY_ADMIN_TOKEN": TOKEN}
    legacy, new = "tests.gateway.parity.apps:flask_app", "tests.gateway.parity.apps:fastapi_app"
    with run_gateway(routes, env=env, legacy_app=legacy, new_app=new) as server:
        with server.client() as client:
            for n in range(3):
                assert client.get(f"/books/{n}").status_code == 200
                # User-Agent: a header whose value the ledger keeps (its allow-list)
                evil = {"user-agent": EVIL}
                assert client.get(f"/authors/{n}", headers=evil).status_code == 200
        wait_for(lambda: metric(server, "gateway_ledger_records_total", result="written") >= 6, 30)
        yield server


def test_the_parity_view_shows_each_route_and_its_grouped_differences(
    browser: Browser, gateway: ServerProcess
) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(f"{gateway.base_url}/_gateway/#token={TOKEN}")
        authors = page.locator('#parity-body details.parity-route[data-route="/authors/{id}"]')
        authors.wait_for(timeout=30_000)
        summary = authors.locator("summary").first.inner_text()
        assert "3 compared" in summary and "3 mismatched" in summary
        assert authors.locator("[data-ratio]").inner_text() == "0.00%"
        books = page.locator('#parity-body details[data-route="/books/{id}"] [data-ratio]')
        assert books.inner_text() == "100.00%"

        authors.locator("summary").first.click()
        field = authors.locator('[data-field="body:$.author.bio"]')
        assert field.inner_text() == "body:$.author.bio (type_changed)"
        authors.locator(".parity-differences details summary").click()
        sample = authors.locator(".parity-differences .parity-sample").first
        cells = sample.locator("table.diff td")
        assert [cells.nth(i).inner_text() for i in range(4)] == [
            "body:$.author.bio",
            "type_changed",
            "null",
            '""',
        ]
        assert EVIL in sample.inner_text()  # shown as text...
        assert page.locator("#parity-body img").count() == 0  # ...never parsed as markup
        assert page.evaluate("window.__xss") is None
        assert errors == []
    finally:
        context.close()
