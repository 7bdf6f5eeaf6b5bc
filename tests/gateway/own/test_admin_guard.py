"""A guard's rollback as the admin API tells it (reason, figures, how to clear), cleared by its
POST action for every worker (an edit of the entry), and the inventory's effective target."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from tests.gateway.in_process import serving, settings

TOKEN = "guard-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ROUTES = """\
routes:
  - path: /flaky
    methods: [GET]
    target: new
    guard:                # a comment the clear keeps
      min_requests: 5
"""


async def routes_of(client: httpx.AsyncClient) -> dict[str, Any]:
    answer = (await client.get("/_gateway/api/routes", headers=AUTH)).json()
    return {route["path"]: route for route in answer["routes"]}


async def wait_until(check: Any, what: str, timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        assert loop.time() < deadline, f"{what}: not after {timeout} s"
        await asyncio.sleep(0.05)


@pytest.mark.filterwarnings("ignore:Duplicate Operation ID")  # the sample new app's own
def test_a_rollback_says_why_on_what_and_how_to_clear_and_clear_ends_it(tmp_path: Path) -> None:
    given = settings(tmp_path, ROUTES, admin_token=SecretStr(TOKEN), watch_routes=True)

    async def run() -> None:
        async with serving(given, CollectorRegistry()) as (_, client):
            for _ in range(4):
                await client.get("/flaky?status=500")
            flaky = (await routes_of(client))["/flaky"]
            assert flaky["effective_target"] == "new"  # 4 errors: not evidence enough
            await client.get("/flaky?status=500")
            flaky = (await routes_of(client))["/flaky"]
            assert flaky["effective_target"] == "legacy"
            rollback = flaky["guard"]["rollback"]
            assert rollback["reason"] == "error_ratio"
            assert "5 5xx in 5 answers" in rollback["detail"]
            assert rollback["figures"]["new_errors"] == 5
            assert "gateway rollout clear /flaky --method GET" in rollback["clear"]
            inventory = (await client.get("/_gateway/api/inventory", headers=AUTH)).json()
            endpoints = inventory["endpoints"]
            (row,) = [e for e in endpoints if e["path"] == "/flaky" and e["method"] == "GET"]
            assert row["target"] == "legacy (rolled back)" and row["configured_target"] == "new"

            body = {"route": "/flaky", "method": "GET"}
            answer = await client.post("/_gateway/api/rollout/clear", json=body, headers=AUTH)
            assert answer.status_code == 200, answer.text
            written = (tmp_path / "routes.yaml").read_text()
            assert f"cleared: '{answer.json()['cleared']}'" in written
            assert "# a comment the clear keeps" in written

            async def cleared() -> bool:
                return bool((await routes_of(client))["/flaky"]["effective_target"] == "new")

            await wait_until(cleared, "the reloaded entry serves new again")
            assert (await routes_of(client))["/flaky"]["guard"]["rolled_back"] is False

            missing = {"route": "/nowhere"}
            answer = await client.post("/_gateway/api/rollout/clear", json=missing, headers=AUTH)
            assert answer.status_code == 409 and "no entry for /nowhere" in answer.text

    asyncio.run(run())
