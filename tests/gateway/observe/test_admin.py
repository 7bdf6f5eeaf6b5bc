"""The admin API under /_gateway/ and the metrics' protections.

In-process (the gateway over an ASGI transport) for what the API answers; over HTTP only what
needs a real server: raw request paths, and the metrics on a port of their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from tests.gateway.in_process import serving, settings
from tests.gateway.test_server import write_routes
from tests.servers import ServerProcess, free_port, raw_request, run_gateway
from tests.waiting import eventually, wait_for

TOKEN = "s3cret-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ROUTES = """\
routes:
  - {path: "/api/items/{item_id}", methods: [GET], target: new}
  - {path: /admin, target: canary, weight: 50, sticky: "header:X-User"}
  - {path: "/compare/{case}", target: shadow, shadow: {noise_sample: 100}}
  - path: /flaky
    target: new
    guard: {min_requests: 5, max_error_ratio: 0.5}
"""
Check = Callable[[httpx.AsyncClient, CollectorRegistry], Awaitable[None]]


@pytest.fixture
def routes_file(tmp_path: Path) -> Path:
    path = tmp_path / "routes.yaml"
    path.write_text(ROUTES)
    return path


@pytest.fixture(scope="module")
def shared_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the tests that need a real one and change nothing in it."""
    path = tmp_path_factory.mktemp("shared") / "routes.yaml"
    path.write_text(ROUTES)
    with run_gateway(path, env={"GATEWAY_ADMIN_TOKEN": TOKEN}) as server:
        yield server


def in_process(tmp_path: Path, check: Check, routes: str = ROUTES, **values: Any) -> None:
    """Run `check` against a gateway built in this process, its lifespan started."""
    given = settings(tmp_path, routes, **{"admin_token": SecretStr(TOKEN), **values})
    registry = CollectorRegistry()

    async def run() -> None:
        async with serving(given, registry) as (_, client):
            await check(client, registry)

    asyncio.run(run())


async def api(client: httpx.AsyncClient, name: str) -> Any:
    response = await client.get(f"/_gateway/api/{name}", headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    return response.json()


def shadowed(registry: CollectorRegistry, outcome: str) -> float:
    labels = {"route": "/compare/{case}", "outcome": outcome, "primary": "legacy"}
    return registry.get_sample_value("gateway_shadow_comparisons_total", labels) or 0.0


def test_without_a_token_configured_everything_is_refused_with_how_to_enable(
    tmp_path: Path,
) -> None:
    async def check(client: httpx.AsyncClient, registry: CollectorRegistry) -> None:
        for path in ("/_gateway/", "/_gateway/api/stats", "/_gateway/api/routes", "/_gateway"):
            response = await client.get(path, headers=AUTH)
            assert response.status_code == 403
            assert "set GATEWAY_ADMIN_TOKEN" in response.json()["detail"]
            assert response.headers["cache-control"] == "no-store"

    in_process(tmp_path, check, admin_token=None)


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="none"),
        pytest.param({"Authorization": "Bearer wrong"}, id="wrong"),
        pytest.param({"Authorization": f"Basic {TOKEN}"}, id="not-bearer"),
        pytest.param({"Authorization": f"Bearer {TOKEN}x"}, id="longer"),
    ],
)
def test_a_missing_or_wrong_token_is_refused(tmp_path: Path, headers: dict[str, str]) -> None:
    async def check(client: httpx.AsyncClient, registry: CollectorRegistry) -> None:
        response = await client.get("/_gateway/api/stats", headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["error"] == "unauthorized"

    in_process(tmp_path, check)


@pytest.mark.parametrize("default", ["legacy", "new"])
def test_admin_paths_never_reach_either_app(tmp_path: Path, default: str) -> None:
    async def check(client: httpx.AsyncClient, registry: CollectorRegistry) -> None:
        for method, path, status in (
            ("DELETE", "/_gateway/api/stats", 405),
            ("GET", "/_gateway/api/nothing", 404),
            ("GET", "//_gateway/api/nothing", 404),
            ("GET", "/_gateway", 200),
        ):
            url = httpx.URL("http://gateway" + path)  # "//" kept: a path, not a host
            response = await client.request(method, url, headers=AUTH)
            assert response.status_code == status, path
            assert response.headers.get("x-gateway-side") in (None, "gateway"), path

    in_process(tmp_path, check, routes=f"default: {default}\nroutes: []\n")


def test_the_page_is_served_with_a_strict_content_policy(shared_gateway: ServerProcess) -> None:
    response = httpx.get(shared_gateway.base_url + "/_gateway/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert "connect-src 'self'" in response.headers["content-security-policy"]
    assert httpx.get(shared_gateway.base_url + "/_gateway/assets/nothing.js").status_code == 404
    for escape in (b"/_gateway/assets/../app.py", b"/_gateway/assets/..%2Fapp.py"):
        assert raw_request(shared_gateway.port, escape)[0] == 400


def test_stats_count_what_the_metrics_count(tmp_path: Path) -> None:
    async def check(client: httpx.AsyncClient, registry: CollectorRegistry) -> None:
        for item in range(4):
            await client.get(f"/api/items/{item}")
        for _ in range(3):
            await client.post("/api/items")
        await client.get("/compare/differ")
        await client.get("/flaky?status=500")
        await eventually(lambda: shadowed(registry, "mismatch") == 1, what="the mismatch counted")
        stats = await api(client, "stats")
        routes = {route["route"]: route for route in stats["routes"]}
        item = routes["/api/items/{item_id}"]
        assert item["target"] == item["effective_target"] == "new"
        new = item["sides"]["new"]
        assert new["requests"] == 4 and new["errors"] == 0
        assert new["buckets"][-1] == ["+Inf", 4]
        bounds = [bound for bound, _ in new["buckets"][:-1]]
        assert bounds == sorted(bounds)
        legacy_items = routes["/api/items"]
        assert legacy_items["target"] is None and legacy_items["sides"]["legacy"]["requests"] == 3
        assert routes["/admin"]["target"] == "canary" and routes["/admin"]["weight"] == 50
        shadow = routes["/compare/{case}"]["shadow"]
        assert shadow["mismatch"] == 1 and set(shadow) >= {"match", "noise", "timeout", "skipped"}
        assert routes["/flaky"]["sides"]["new"]["errors"] == 1
        order = [route["route"] for route in stats["routes"]]
        assert order.index("/api/items/{item_id}") < order.index("/api/items")

    in_process(tmp_path, check)


def test_routes_config_and_mismatches(tmp_path: Path) -> None:
    async def check(client: httpx.AsyncClient, registry: CollectorRegistry) -> None:
        for _ in range(6):
            await client.get("/flaky?status=500")
        for _ in range(3):
            await client.get("/compare/noisy")
        await client.get("/compare/differ", headers={"X-Request-ID": "admin-diff"})
        await eventually(lambda: shadowed(registry, "mismatch") == 1, what="the mismatch counted")
        routes = {route["path"]: route for route in (await api(client, "routes"))["routes"]}
        flaky = routes["/flaky"]
        assert flaky["target"] == "new" and flaky["effective_target"] == "legacy"
        assert flaky["guard"]["rolled_back"] is True and flaky["guard"]["reason"] == "error_ratio"
        assert routes["/admin"]["sticky"] == "header:x-user"
        assert routes["/api/items/{item_id}"]["methods"] == ["GET"]
        assert routes["/admin"]["line"] == 3
        await eventually(lambda: shadowed(registry, "noise") >= 1, what="noise learned")
        noise = (await api(client, "routes"))["routes"][2]["shadow"]["noise_fields"]
        assert "body:$.nonce" in noise
        (mismatch,) = (await api(client, "mismatches"))["mismatches"]
        assert mismatch["request_id"] == "admin-diff" and mismatch["route"] == "/compare/{case}"
        assert mismatch["primary"] == "legacy"
        value = {"field": "body:$.value", "kind": "changed", "primary": "1", "shadow": "2"}
        assert value in mismatch["differences"]

        assert (await api(client, "config"))["last_reload"]["ok"] is True
        write_routes(tmp_path / "routes.yaml", "routes: [\n")
        last: dict[str, Any] = {}

        async def reload_failed() -> bool:
            last.update((await api(client, "config"))["last_reload"])
            return last["ok"] is False

        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while not await reload_failed():
            assert loop.time() < deadline, "the broken file was not reported"
            await asyncio.sleep(0.05)
        assert last["trigger"] == "watch" and "invalid YAML" in last["error"]

    in_process(tmp_path, check, watch_routes=True)


def test_metrics_can_require_the_token_or_move_to_their_own_port(routes_file: Path) -> None:
    port = free_port()
    env = {
        "GATEWAY_ADMIN_TOKEN": TOKEN,
        "GATEWAY_METRICS_AUTH": "true",
        "GATEWAY_METRICS_PORT": str(port),
        "GATEWAY_READ_TOKEN": "metrics-reader",
    }
    with run_gateway(routes_file, env=env, health_path="/_gateway/") as server:
        httpx.get(server.base_url + "/api/items/1")
        assert httpx.get(server.base_url + "/metrics").status_code == 401
        wrong = {"Authorization": "Bearer not-a-token"}
        assert httpx.get(server.base_url + "/metrics", headers=wrong).status_code == 401
        protected = httpx.get(server.base_url + "/metrics", headers=AUTH)
        assert protected.status_code == 200 and "gateway_requests_total" in protected.text
        # Reading the metrics is a read: the read token is enough.
        reader = {"Authorization": "Bearer metrics-reader"}
        assert httpx.get(server.base_url + "/metrics", headers=reader).status_code == 200
        own_port = httpx.get(f"http://127.0.0.1:{port}/metrics")
        assert own_port.status_code == 200
        assert 'gateway_requests_total{method="GET",route="/api/items/{item_id}"' in own_port.text


def test_stats_sum_every_worker(routes_file: Path) -> None:
    with run_gateway(routes_file, workers=2, env={"GATEWAY_ADMIN_TOKEN": TOKEN}) as server:
        for _ in range(30):
            with server.client() as client:  # a new connection each time
                client.get("/api/items/5")

        def requests() -> int:
            stats = httpx.get(f"{server.base_url}/_gateway/api/stats", headers=AUTH).json()
            routes = {route["route"]: route for route in stats["routes"]}
            return int(routes["/api/items/{item_id}"]["sides"]["new"]["requests"])

        # The other worker folds its counts into the shared files within a second.
        wait_for(lambda: requests() == 30, timeout=15, what="both workers' counts")
        for _ in range(4):  # whichever worker answers
            stats = httpx.get(f"{server.base_url}/_gateway/api/stats", headers=AUTH).json()
            routes = {route["route"]: route for route in stats["routes"]}
            assert routes["/api/items/{item_id}"]["sides"]["new"]["requests"] == 30
