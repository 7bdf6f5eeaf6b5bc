"""The admin API's router, in-process: tokens first, then 404 and 405 answered in one place."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from tests.gateway.in_process import serving, settings

TOKEN, READER = "admin-secret", "reader-secret"
ROUTES = "routes:\n  - {path: /admin, target: canary, weight: 50, guard: true}\n"


def ask(tmp_path: Path, method: str, path: str, token: str | None) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    given = settings(tmp_path, ROUTES, admin_token=SecretStr(TOKEN), read_token=SecretStr(READER))

    async def run() -> httpx.Response:
        async with serving(given, CollectorRegistry()) as (_, client):
            return await client.request(method, path, headers=headers)

    return asyncio.run(run())


@pytest.mark.parametrize(
    ("method", "path", "token", "status", "allow"),
    [
        pytest.param("GET", "/_gateway/api/routes", TOKEN, 200, None, id="read"),
        pytest.param("HEAD", "/_gateway/api/config", READER, 200, None, id="head"),
        pytest.param("POST", "/_gateway/api/routes", TOKEN, 405, "GET", id="post-to-a-read"),
        pytest.param("GET", "/_gateway/api/rollout/pause", TOKEN, 405, "POST", id="get-action"),
        pytest.param("POST", "/_gateway/api/routes", READER, 403, None, id="reader-acts"),
        pytest.param("GET", "/_gateway/api/routes", None, 401, None, id="no-token"),
        pytest.param("GET", "/_gateway/api/nothing", TOKEN, 404, None, id="unknown"),
        pytest.param("GET", "/_gateway/assets/.env", None, 404, None, id="no-such-asset"),
    ],
)
def test_the_router_answers_in_the_apis_json(
    tmp_path: Path, method: str, path: str, token: str | None, status: int, allow: str | None
) -> None:
    response = ask(tmp_path, method, path, token)
    assert response.status_code == status
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-gateway-side"] == "gateway"
    assert response.headers.get("allow") == allow
    if method != "HEAD" and status != 200:
        assert response.headers["content-type"] == "application/json"
        assert response.json()["error"]


def test_the_routes_view_shows_the_guard_and_the_effective_target(tmp_path: Path) -> None:
    route = ask(tmp_path, "GET", "/_gateway/api/routes", TOKEN).json()["routes"][0]
    assert route["target"] == route["effective_target"] == "canary"
    assert route["weight"] == 50
    assert route["guard"]["rolled_back"] is False
    assert "shadow" not in route  # no shadow policy on this entry


def test_the_page_needs_no_token_and_holds_no_data(tmp_path: Path) -> None:
    response = ask(tmp_path, "GET", "/_gateway/", None)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]
