"""The admin API under /_gateway/ and the metrics' protections, over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.gateway.test_server import metric, wait_for, write_routes
from tests.servers import ServerProcess, free_port, raw_request, run_gateway

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


@pytest.fixture
def routes_file(tmp_path: Path) -> Path:
    path = tmp_path / "routes.yaml"
    path.write_text(ROUTES)
    return path


@pytest.fixture
def gateway(routes_file: Path) -> Iterator[ServerProcess]:
    with run_gateway(routes_file, env={"GATEWAY_ADMIN_TOKEN": TOKEN}) as server:
        yield server


@pytest.fixture(scope="module")
def shared_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the tests that neither change its table nor count its metrics."""
    path = tmp_path_factory.mktemp("shared") / "routes.yaml"
    path.write_text(ROUTES)
    with run_gateway(path, env={"GATEWAY_ADMIN_TOKEN": TOKEN}) as server:
        yield server


def api(server: ServerProcess, name: str) -> Any:
    response = httpx.get(f"{server.base_url}/_gateway/api/{name}", headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    return response.json()


def test_without_a_token_configured_everything_is_refused_with_how_to_enable(
    routes_file: Path,
) -> None:
    with run_gateway(routes_file) as server:
        for path in ("/_gateway/", "/_gateway/api/stats", "/_gateway/api/routes", "/_gateway"):
            response = httpx.get(server.base_url + path, headers=AUTH)
            assert response.status_code == 403
            assert "set GATEWAY_ADMIN_TOKEN" in response.json()["detail"]
            assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="none"),
        pytest.param({"Authorization": "Bearer wrong"}, id="wrong"),
        pytest.param({"Authorization": f"Basic {TOKEN}"}, id="not-bearer"),
        pytest.param({"Authorization": f"Bearer {TOKEN}x"}, id="longer"),
    ],
)
def test_a_missing_or_wrong_token_is_refused(
    shared_gateway: ServerProcess, headers: dict[str, str]
) -> None:
    response = httpx.get(shared_gateway.base_url + "/_gateway/api/stats", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["error"] == "unauthorized"


@pytest.mark.parametrize("default", ["legacy", "new"])
def test_admin_paths_never_reach_either_app(tmp_path: Path, default: str) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(f"default: {default}\nroutes: []\n")
    with run_gateway(routes, env={"GATEWAY_ADMIN_TOKEN": TOKEN}) as server:
        for method, path, status in (
            ("DELETE", "/_gateway/api/stats", 405),
            ("GET", "/_gateway/api/nothing", 404),
            ("GET", "//_gateway/api/nothing", 404),
            ("GET", "/_gateway", 200),
        ):
            response = httpx.request(method, server.base_url + path, headers=AUTH)
            assert response.status_code == status, path
            assert response.headers.get("x-gateway-side") in (None, "gateway"), path


def test_the_page_is_served_with_a_strict_content_policy(shared_gateway: ServerProcess) -> None:
    response = httpx.get(shared_gateway.base_url + "/_gateway/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert "connect-src 'self'" in response.headers["content-security-policy"]
    assert httpx.get(shared_gateway.base_url + "/_gateway/assets/nothing.js").status_code == 404
    for escape in (b"/_gateway/assets/../app.py", b"/_gateway/assets/..%2Fapp.py"):
        assert raw_request(shared_gateway.port, escape)[0] == 400


def test_stats_count_what_the_metrics_count(gateway: ServerProcess) -> None:
    with gateway.client() as client:
        for item in range(4):
            client.get(f"/api/items/{item}")
        for _ in range(3):
            client.post("/api/items")
        client.get("/compare/differ")
        client.get("/flaky?status=500")
    wait_for(
        lambda: (
            metric(
                gateway,
                "gateway_shadow_comparisons_total",
                route="/compare/{case}",
                outcome="mismatch",
            )
            == 1
        ),
        15,
    )
    stats = api(gateway, "stats")
    routes = {route["route"]: route for route in stats["routes"]}
    item = routes["/api/items/{item_id}"]
    assert item["target"] == item["effective_target"] == "new"
    new = item["sides"]["new"]
    assert new["requests"] == 4 and new["errors"] == 0
    assert new["buckets"][-1] == ["+Inf", 4]
    assert [bound for bound, _ in new["buckets"][:-1]] == sorted(b for b, _ in new["buckets"][:-1])
    legacy_items = routes["/api/items"]
    assert legacy_items["target"] is None and legacy_items["sides"]["legacy"]["requests"] == 3
    assert routes["/admin"]["target"] == "canary" and routes["/admin"]["weight"] == 50
    shadow = routes["/compare/{case}"]["shadow"]
    assert shadow["mismatch"] == 1 and set(shadow) >= {"match", "noise", "timeout", "skipped"}
    assert routes["/flaky"]["sides"]["new"]["errors"] == 1
    order = [route["route"] for route in stats["routes"]]
    assert order.index("/api/items/{item_id}") < order.index("/api/items")


def test_routes_config_and_mismatches(gateway: ServerProcess, routes_file: Path) -> None:
    with gateway.client() as client:
        for _ in range(6):
            client.get("/flaky?status=500")
        for _ in range(3):
            client.get("/compare/noisy")
        client.get("/compare/differ", headers={"X-Request-ID": "admin-diff"})
    wait_for(lambda: bool(api(gateway, "mismatches")["mismatches"]), 15)
    routes = {route["path"]: route for route in api(gateway, "routes")["routes"]}
    flaky = routes["/flaky"]
    assert flaky["target"] == "new" and flaky["effective_target"] == "legacy"
    assert flaky["guard"]["rolled_back"] is True and flaky["guard"]["reason"] == "error_ratio"
    assert routes["/admin"]["sticky"] == "header:x-user"
    assert routes["/api/items/{item_id}"]["methods"] == ["GET"] and routes["/admin"]["line"] == 3
    wait_for(
        lambda: "body:$.nonce" in api(gateway, "routes")["routes"][2]["shadow"]["noise_fields"], 15
    )
    (mismatch,) = api(gateway, "mismatches")["mismatches"]
    assert mismatch["request_id"] == "admin-diff" and mismatch["route"] == "/compare/{case}"
    value = {"field": "body:$.value", "kind": "changed", "primary": "1", "shadow": "2"}
    assert value in mismatch["differences"]

    assert api(gateway, "config")["last_reload"]["ok"] is True
    write_routes(routes_file, "routes: [\n")
    wait_for(lambda: api(gateway, "config")["last_reload"]["ok"] is False, 15)
    last = api(gateway, "config")["last_reload"]
    assert last["trigger"] == "watch" and "invalid YAML" in last["error"]


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
        for _ in range(4):  # whichever worker answers
            routes = {route["route"]: route for route in api(server, "stats")["routes"]}
            assert routes["/api/items/{item_id}"]["sides"]["new"]["requests"] == 30
