"""The dashboard's buttons, in a real browser on a real gateway that runs its rollout
controller: approving a waiting step advances the rollout, after a confirmation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

from tests.dashboard.test_dashboard import WIDTH, assert_fits, console_errors
from tests.servers import ServerProcess, run_gateway
from tests.waiting import wait_for

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Dialog

TOKEN = "actions-test-token"
# The first step waits for a person; the controller (GATEWAY_ROLLOUT) enters it once approved.
ROUTES = """\
default: legacy
routes:
  - path: /api/items
    methods: [GET]
    target: canary
    weight: 0
    rollout: {steps: [5, 50], approve: [5], interval: 3600, min_requests: 1}
"""
WAIT = 60.0


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[tuple[ServerProcess, Path]]:
    routes = tmp_path / "routes.yaml"
    routes.write_text(ROUTES, encoding="utf-8")
    env = {
        "GATEWAY_ADMIN_TOKEN": TOKEN,
        "GATEWAY_ACCESS_LOG": "false",
        "GATEWAY_ROLLOUT": "true",
        "GATEWAY_ROLLOUT_EVERY": "0.5",
    }
    with run_gateway(routes, env=env) as server:
        yield server, routes


def entry(routes: Path) -> dict[str, object]:
    entries: list[dict[str, object]] = yaml.safe_load(routes.read_text())["routes"]
    return entries[0]


def state_of(routes: Path) -> object:
    status = entry(routes).get("status")
    return status.get("state") if isinstance(status, dict) else None


def test_approve_asks_first_then_advances_the_waiting_rollout(
    browser: Browser, gateway: tuple[ServerProcess, Path]
) -> None:
    server, routes = gateway
    wait_for(lambda: state_of(routes) == "awaiting_approval", WAIT, "the step to wait")
    context = browser.new_context(viewport={"width": WIDTH, "height": 900})
    page = context.new_page()
    page.set_default_timeout(WAIT * 1000)
    errors = console_errors(page)
    asked: list[str] = []

    def answer(dialog: Dialog, accept: bool) -> None:
        asked.append(dialog.message)
        if accept:
            dialog.accept()
        else:
            dialog.dismiss()

    try:
        page.goto(f"{server.base_url}/_gateway/#token={TOKEN}")
        row = page.locator('#rollout-table tr[data-route="/api/items"]')
        wait_for(
            lambda: "awaiting_approval" in row.locator(".rollout-state").inner_text(),
            WAIT,
            "the waiting rollout in the panel",
        )
        assert_fits(page)
        # Dismissed: nothing happens.
        page.once("dialog", lambda dialog: answer(dialog, False))
        row.locator('button[data-action="approve"]').click()
        wait_for(lambda: len(asked) == 1, WAIT, "the confirmation")
        assert "approve GET /api/items" in asked[0]
        assert state_of(routes) == "awaiting_approval"
        # Accepted: approved, then the controller enters the step.
        page.once("dialog", lambda dialog: answer(dialog, True))
        row.locator('button[data-action="approve"]').click()
        wait_for(lambda: entry(routes).get("weight") == 5, WAIT, "the step entered")
        assert state_of(routes) == "stepping"
        wait_for(
            lambda: "step 1 of 2 at 5%" in row.inner_text(), WAIT, "the panel showing the step"
        )
        assert "approve" in page.locator("#action-result").inner_text()
        assert errors == []
    finally:
        context.close()
