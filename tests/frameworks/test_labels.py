"""Route labels come from the legacy framework's own router, through a real `gateway serve`."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.gateway.test_server import metric
from tests.servers import ServerProcess, run_gateway

pytest.importorskip("django")
pytest.importorskip("bottle")

ROUTES = "default: legacy\nroutes: []\n"


def _routes(tmp_path: Path, text: str = ROUTES) -> Path:
    path = tmp_path / "routes.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _count(server: ServerProcess, route: str, status: str, side: str = "legacy") -> float:
    labels = {"route": route, "side": side, "method": "GET", "status": status}
    return metric(server, "gateway_requests_total", **labels)


@pytest.mark.parametrize(
    ("legacy_app", "expected"),
    [
        pytest.param(
            "tests.frameworks.django_app:application",
            {
                "/api/items/7": "/api/items/{item_id:int}",
                "/api/items/export": "/api/items/export",
                "/api/items/my-tag/tags": "/api/items/{slug}/tags",
                "/archive/2024/": "/archive/{year}/",
                "/files/a/b.txt": "/files/{name:path}",
            },
            id="django",
        ),
        pytest.param(
            "tests.frameworks.bottle_app:app",
            {
                "/api/items/7": "/api/items/{item_id}",
                "/api/items/-7": "/api/items/{item_id}",
                "/api/items/export": "/api/items/export",
                "/r/abc": "/r/{code}",
                "/files/a/b.txt": "/files/{name:path}",
            },
            id="bottle",
        ),
    ],
)
def test_requests_are_labelled_by_the_legacy_frameworks_router(
    tmp_path: Path, legacy_app: str, expected: dict[str, str]
) -> None:
    with run_gateway(_routes(tmp_path), legacy_app=legacy_app) as server:
        with server.client() as client:
            for path in expected:
                response = client.get(path)
                assert response.status_code == 200, (path, response.text)
                assert response.headers["x-gateway-side"] == "legacy"
            assert client.get("/no/such/page").status_code == 404
        for path, route in expected.items():
            assert _count(server, route, "200") >= 1, (path, route)
        assert _count(server, "__unmatched__", "404") == 1
        assert _count(server, "__legacy_default__", "404") == 0


def test_an_app_no_adapter_reads_gets_the_fixed_legacy_default_label(tmp_path: Path) -> None:
    with run_gateway(_routes(tmp_path), legacy_app="tests.frameworks.plain_app:app") as server:
        with server.client() as client:
            for path in ("/", "/anything", "/no/such/page"):
                assert client.get(path).text == "plain"
        assert _count(server, "__legacy_default__", "200") == 3
        assert _count(server, "__unmatched__", "200") == 0


def test_the_new_apps_own_docs_routes_are_labelled_with_their_paths(tmp_path: Path) -> None:
    routes = _routes(tmp_path, "default: new\nroutes: []\n")
    with run_gateway(routes) as server:
        for path in ("/openapi.json", "/docs"):
            assert httpx.get(server.base_url + path, timeout=10).status_code == 200
            assert _count(server, path, "200", side="new") == 1
        assert _count(server, "__unmatched__", "200", side="new") == 0
