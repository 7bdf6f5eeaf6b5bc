"""The dashboard's rollout view in a real browser (Debian's chromium), with the read token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dashboard.conftest import CHROMIUM_ARGS, require_browser
from tests.servers import run_gateway

LEGACY = "tests.gateway.rollout.rollout_apps:legacy_app"
NEW = "tests.gateway.rollout.rollout_apps:new_app"
ROUTES = """\
routes:
  - path: /r/healthy
    methods: [GET]
    target: canary
    weight: 5
    rollout: {steps: [5, 50, 100], approve: [50]}
    status:
      state: awaiting_approval
      step: 1
      since: '2026-01-01T10:00:00Z'
      decision: hold
      reason: step 50% waits for approval
      gate: approval
  - path: /r/quiet
    target: legacy
"""


@pytest.fixture
def chromium() -> Iterator[str]:
    yield require_browser()


def test_the_view_shows_state_step_next_gate_and_what_holds_it(
    chromium: str, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    routes_file = tmp_path / "routes.yaml"
    routes_file.write_text(ROUTES, encoding="utf-8")
    env = {"GATEWAY_ADMIN_TOKEN": "operator", "GATEWAY_READ_TOKEN": "reader"}
    with (
        run_gateway(routes_file, legacy_app=LEGACY, new_app=NEW, env=env) as gateway,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(
            executable_path=chromium, args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"{gateway.base_url}/_gateway/#token=reader")
            row = page.locator('#rollout-table tr[data-route="/r/healthy"]')
            row.wait_for(timeout=30_000)
            text = row.inner_text()
            assert page.locator('#rollout-table tr[data-route="/r/quiet"]').count() == 0
        finally:
            browser.close()
    for expected in (
        "GET /r/healthy",
        "awaiting_approval",
        "step 1 of 3 at 5%",
        "50% (needs approval)",
        "approval: step 50% waits for approval",
    ):
        assert expected in text
    assert not errors
