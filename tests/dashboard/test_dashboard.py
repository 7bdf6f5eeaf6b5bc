"""The built-in dashboard (`gateway/observe/dashboard/`) in a real browser, on a real gateway.

`gateway serve` gets steady, known traffic on both sides while headless chromium shows
`/_gateway/`: the page must show every route of the table with figures for both sides, the
canary weight, the shadow mismatch and the rollback, refresh by itself, and ask for the token
when it has none. The screenshot it leaves is the one the README shows.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.servers import REPO_ROOT, ServerProcess, run_gateway
from tests.waiting import wait_for

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Locator, Page

TOKEN = "dashboard-test-token"
WIDTH = 1280  # the page must fit a common laptop's width
ARTIFACT = REPO_ROOT / "test-artifacts" / "dashboard.png"
README_IMAGE = REPO_ROOT / "docs" / "dashboard.png"
UPDATE_SCREENSHOT = os.environ.get("UPDATE_SCREENSHOT") == "1"  # refresh the README's picture

ROUTES = """\
default: legacy
routes:
  - {path: "/api/items/{item_id}", methods: [GET], target: canary, weight: 50}
  - {path: /api/items, methods: [GET], target: new}
  - {path: "/compare/{case}", methods: [GET], target: shadow}
  # The new side answers slower here and fails one request in five; legacy answers those.
  - {path: /flaky, methods: [GET], target: canary, weight: 50, fallback: legacy}
  # Five new-side failures roll POST /flaky back to legacy.
  - {path: /flaky, methods: [POST], target: new, guard: {min_requests: 5}}
  - {path: /slow, methods: [GET], target: canary, weight: 50}
"""
TABLE_ROUTES = ["/api/items/{item_id}", "/api/items", "/compare/{case}", "/flaky", "/slow"]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    routes = tmp_path_factory.mktemp("dashboard") / "routes.yaml"
    routes.write_text(ROUTES)
    env = {"GATEWAY_ADMIN_TOKEN": TOKEN, "GATEWAY_ACCESS_LOG": "false"}
    with run_gateway(routes, env=env) as server:
        with server.client() as client:
            for _ in range(6):
                client.post("/flaky?status=503")
        yield server


def send_round(client: httpx.Client, n: int) -> None:
    """One round of the known mix: every table route, both sides, a few errors."""
    client.get(f"/api/items/{n % 7}")
    client.get(f"/api/items/{n % 5}")
    client.get("/api/items")
    client.get("/compare/differ" if n % 60 == 3 else "/compare/same")
    # The new side answers /flaky 40 ms later than legacy (past the page's 20 ms floor), and
    # fails one time in five (at once: legacy's answer to those, a fallback, includes the
    # failed attempt's time).
    if n % 5 == 0:
        client.get("/flaky", params={"status": 500})
    else:
        client.get("/flaky", params={"status": 200, "delay": 0.04})
    client.get("/slow", params={"seconds": 0.005 if n % 3 else 0.03})
    if n % 10 == 0:
        client.get("/no/such/page")  # __unmatched__
        client.get("/files/a%2Fb")  # refused by the gateway: __rejected__


@contextmanager
def traffic(server: ServerProcess) -> Iterator[Callable[[], int]]:
    """Rounds of requests in the background, at a rate that swells and ebbs (so the trend
    lines have a shape); yields a function giving the rounds sent so far."""
    stop = threading.Event()
    sent = [0]

    def run() -> None:
        started = time.monotonic()
        with server.client() as client:
            while not stop.is_set():
                send_round(client, sent[0])
                sent[0] += 1
                swell = 1 + 0.8 * math.sin((time.monotonic() - started) / 3)
                stop.wait(0.06 / swell)

    thread = threading.Thread(target=run, name="dashboard-traffic", daemon=True)
    thread.start()
    try:
        yield lambda: sent[0]
    finally:
        stop.set()
        thread.join(10)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": WIDTH, "height": 900})
    page = context.new_page()
    page.set_default_timeout(WAIT * 1000)
    try:
        yield page
    finally:
        context.close()


def console_errors(page: Page) -> list[str]:
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def row(page: Page, route: str) -> Locator:
    return page.locator(f'#rows tr[data-route="{route}"]')


def cell(page: Page, route: str, metric: str, side: str | None = None) -> Locator:
    selector = f'[data-metric="{metric}"]' + (f'[data-side="{side}"]' if side else "")
    return row(page, route).locator(selector)


def figure(page: Page, route: str, metric: str, side: str) -> str:
    """The main figure of a cell (its first line; the second is a detail)."""
    return cell(page, route, metric, side).inner_text().splitlines()[0].strip()


def assert_fits(page: Page) -> None:
    """Nothing wider than the window: neither the page nor the routes table scrolls sideways."""
    widths = page.evaluate(
        """() => {
            const root = document.documentElement, wrap = document.querySelector(".table-wrap");
            return [root.scrollWidth, root.clientWidth, wrap.scrollWidth, wrap.clientWidth];
        }"""
    )
    page_width, page_client, table_width, table_client = widths
    assert page_width <= page_client, f"the page is {page_width} px wide in {page_client}"
    assert table_width <= table_client, f"the table is {table_width} px wide in {table_client}"


def classes(locator: Locator) -> list[str]:
    return (locator.get_attribute("class") or "").split()


# Generous: the page polls every 2 s, and a loaded machine runs chromium, the gateway and the
# traffic on two cores. A wait ends as soon as its condition holds.
WAIT = 30.0
# Cells are judged once each side has 100 answers in the window: /flaky's new side gets a few a
# second, slower on a loaded machine.
JUDGED_WAIT = 180.0


def wait_for_class(locator: Locator, name: str, what: str, timeout: float = WAIT) -> None:
    wait_for(lambda: name in classes(locator), timeout, f"{what} as {name!r}")


def nonzero(text: str) -> bool:
    """A figure as the page prints it (12.5, 1.2k, <0.01) that is not zero."""
    number = re.fullmatch(r"<?([0-9.]+)k?", text)
    return number is not None and (text.startswith("<") or float(number.group(1)) > 0)


def test_the_dashboard_shows_both_sides_of_every_route_and_refreshes(
    gateway: ServerProcess, page: Page
) -> None:
    errors = console_errors(page)
    with traffic(gateway) as rounds:
        wait_for(lambda: rounds() >= 10, WAIT, "traffic")
        page.goto(f"{gateway.base_url}/_gateway/#token={TOKEN}")
        opened = time.monotonic()
        assert "token" not in page.url, "the token stayed in the address bar"

        # Every route of the table, in the table's order, then the others, internal ones last.
        wait_for(lambda: row(page, "/api/items/{item_id}").count() == 1, WAIT, "the routes")
        wait_for(lambda: nonzero(figure(page, "/slow", "rps", "new")), WAIT, "request rates")
        routes = page.locator("#rows tr").evaluate_all("rows => rows.map(r => r.dataset.route)")
        assert routes[: len(TABLE_ROUTES)] == TABLE_ROUTES
        assert routes[-2:] == ["__rejected__", "__unmatched__"]
        assert "dim" in classes(row(page, "__unmatched__"))

        for route in ("/api/items/{item_id}", "/flaky", "/slow"):
            for side in ("legacy", "new"):
                for metric in ("rps", "p50", "p99"):
                    text = figure(page, route, metric, side)
                    assert nonzero(text), (route, side, metric, text)
        assert nonzero(figure(page, "/api/items", "rps", "new"))
        assert figure(page, "/api/items", "rps", "legacy") == "–"  # all of it goes to new
        assert figure(page, "/compare/{case}", "rps", "legacy") != "–"

        assert "canary 50%" in cell(page, "/api/items/{item_id}", "target").inner_text()
        # The new side of /flaky fails where legacy does not, and takes 40 ms more: flagged
        # once each side has 100 answers in the window.
        for metric in ("errors", "p99"):
            flagged = cell(page, "/flaky", metric, "new")
            wait_for_class(flagged, "bad", f"/flaky's new {metric}", JUDGED_WAIT)
        # Sides that take the same time are not flagged. On a loaded machine one refresh's p99
        # can jump on either side, so wait for a refresh that shows it rather than take the first.
        items_p99 = cell(page, "/api/items/{item_id}", "p99", "new")
        wait_for(lambda: "bad" not in classes(items_p99), WAIT, "/api/items' p99 not flagged")
        assert int(cell(page, "/flaky", "fallbacks").get_attribute("data-count") or 0) >= 1
        # POST /flaky was rolled back to legacy by its guard.
        assert "now legacy" in cell(page, "/flaky", "effective").inner_text()
        assert cell(page, "/flaky", "rollbacks").inner_text() == "1 rollback"
        # Why, on what, and how to clear it, in the rolled-back panel.
        rolled = page.locator('#rollback-body li[data-route="/flaky"]')
        assert "5xx in" in rolled.locator('[data-metric="rollback-detail"]').inner_text()
        assert "gateway rollout clear /flaky --method POST" in rolled.inner_text()
        assert rolled.locator('button[data-action="clear"]').count() == 1
        assert "5 min" in page.locator("#window-head").inner_text()
        assert_fits(page)

        shadow = cell(page, "/compare/{case}", "shadow")
        wait_for_class(shadow, "bad", "the shadow mismatch")
        assert shadow.locator('[data-outcome="mismatch"]').inner_text() != "mismatch 0"
        mismatch = page.locator('#mismatch-body li[data-route="/compare/{case}"]').first
        assert "GET /compare/differ" in mismatch.inner_text()
        assert "body:$.value" in mismatch.inner_text()
        assert page.locator('[data-metric="reload-result"]').inner_text() == "ok"

        # It refreshes by itself: the time and the figures move with the traffic.
        updated = page.locator("#updated").inner_text()
        assert re.fullmatch(r"updated \d\d:\d\d:\d\d", updated)
        total = cell(page, "/api/items/{item_id}", "rps", "legacy").inner_text()
        wait_for(lambda: page.locator("#updated").inner_text() != updated, WAIT, "a new time")
        wait_for(
            lambda: cell(page, "/api/items/{item_id}", "rps", "legacy").inner_text() != total,
            WAIT,
            "new figures",
        )
        assert "live" in classes(page.locator("#live-dot"))

        # Trend lines: two points per side and route at least. The README's picture waits for
        # 15 s of history, so that its lines have a shape.
        polylines = page.locator("#rows polyline")
        wait_for(lambda: polylines.count() >= 2 * len(TABLE_ROUTES), WAIT, "trend lines")
        if UPDATE_SCREENSHOT:
            page.wait_for_timeout(max(0.0, 15 - (time.monotonic() - opened)) * 1000)
        ARTIFACT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACT))

        # Clear, once confirmed, ends the rollback: the entry is edited, every worker reloads it.
        page.once("dialog", lambda dialog: dialog.accept())
        rolled.locator('button[data-action="clear"]').click()
        wait_for(lambda: page.locator("#rollback-panel").is_hidden(), WAIT, "the rollback cleared")
        assert "clear POST /flaky: done" in page.locator("#action-result").inner_text()
    if UPDATE_SCREENSHOT:
        README_IMAGE.parent.mkdir(exist_ok=True)
        shutil.copyfile(ARTIFACT, README_IMAGE)
    assert errors == []


@pytest.mark.parametrize(
    "token", [pytest.param(None, id="none"), pytest.param("wrong", id="wrong")]
)
def test_without_a_valid_token_the_page_asks_for_one_and_says_why(
    gateway: ServerProcess, page: Page, token: str | None
) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer = httpx.get(gateway.base_url + "/_gateway/api/stats", headers=headers)
    assert answer.status_code == 401
    page.goto(f"{gateway.base_url}/_gateway/" + (f"#token={token}" if token else ""))
    page.locator("#login-form").wait_for(state="visible")
    assert page.locator("#login-detail").inner_text() == answer.json()["detail"]
    assert page.locator("#main").is_hidden()
    # With the right token typed in, the dashboard opens.
    page.locator("#token-input").fill(TOKEN)
    page.locator("#login-form button").click()
    row(page, "/api/items/{item_id}").wait_for()
    assert page.locator("#login").is_hidden()
