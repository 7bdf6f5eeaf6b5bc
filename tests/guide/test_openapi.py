"""One OpenAPI document for both apps: from the CLI, the admin API and a public path."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate
from pydantic import ValidationError

from gateway.settings import GatewaySettings
from tests.gateway.test_server import write_routes
from tests.servers import REPO_ROOT, ServerProcess, bin_path, run_gateway
from tests.waiting import wait_for

TOKEN = "guide-admin-token"
ROUTES = """\
default: legacy
routes:
  - {path: /api/me, methods: [GET], target: new}
  - {path: "/api/tickets/{ticket_id:int}", methods: [GET], target: new}
  - {path: /api/tickets, methods: [GET], target: canary, weight: 25}
"""


def operation(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    found: dict[str, Any] = document["paths"][path][method]
    return found


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("openapi")
    done = subprocess.run(
        [bin_path("gateway"), "openapi"],
        env={**os.environ, "HELPDESK_DATABASE_URL": f"sqlite:///{folder / 'helpdesk.db'}"},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
    )
    assert done.returncode == 0, done.stderr
    merged: dict[str, Any] = json.loads(done.stdout)
    return merged


def test_the_example_merges_into_a_valid_openapi_3_document(document: dict[str, Any]) -> None:
    validate(document)  # raises on any violation of the OpenAPI 3.1 schema
    assert document["openapi"].startswith("3.")
    users = operation(document, "get", "/api/users")
    assert users["x-gateway-side"] == "legacy" and users["x-gateway-target"] == "legacy"
    me = operation(document, "get", "/api/me")
    assert me["x-gateway-side"] == "new" and me["x-gateway-target"] == "new"
    assert "responses" in me and "200" in me["responses"]  # FastAPI's own description


def test_each_operation_is_described_by_the_side_that_answers_it(document: dict[str, Any]) -> None:
    assert operation(document, "get", "/api/tickets/{ticket_id}")["x-gateway-side"] == "new"
    patch = operation(document, "patch", "/api/tickets/{ticket_id}")
    assert patch["x-gateway-side"] == "legacy"
    assert patch["parameters"] == [
        {
            "name": "ticket_id",
            "in": "path",
            "required": True,
            "schema": {"type": "integer", "minimum": 0},
        }
    ]
    assert {"403", "404", "409", "422"} <= set(patch["responses"])  # reachable aborts
    assert "401" in patch["responses"]  # the `api` blueprint's authenticate hook
    canary = operation(document, "get", "/api/tickets")
    assert canary["x-gateway-side"] == "new" and canary["x-gateway-target"] == "canary 25%"
    shadowed = operation(document, "get", "/api/tickets/{ticket_id}/comments")
    assert shadowed["x-gateway-target"] == "shadow (legacy answers)"
    sides = {op["x-gateway-side"] for item in document["paths"].values() for op in item.values()}
    assert sides == {"legacy", "new"}


def test_a_view_docstring_becomes_the_description(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text("default: legacy\nroutes: []\n", encoding="utf-8")
    done = subprocess.run(
        [bin_path("gateway"), "openapi", "--routes-file", str(routes)],
        env={
            **os.environ,
            "GATEWAY_LEGACY_APP": "tests.guide.documented_app:app",
            "GATEWAY_NEW_APP": "tests.gateway.sample_apps:fastapi_app",
        },
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
    )
    assert done.returncode == 0, done.stderr
    merged = json.loads(done.stdout)
    validate(merged)
    report = operation(merged, "get", "/reports/{day}")
    assert report["summary"] == "One day's report."
    assert "Counted at midnight" in report["description"]
    assert report["parameters"][0]["schema"] == {"type": "number"}
    # Nothing of the new app is reachable: the table sends everything to legacy.
    assert all(
        op["x-gateway-side"] == "legacy"
        for item in merged["paths"].values()
        for op in item.values()
    )


def _served(server: ServerProcess, path: str, **headers: str) -> httpx.Response:
    return httpx.get(server.base_url + path, headers=headers, timeout=30)


def test_admin_and_public_documents_follow_the_live_table(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(ROUTES, encoding="utf-8")
    env = {
        "GATEWAY_ADMIN_TOKEN": TOKEN,
        "GATEWAY_OPENAPI_PATH": "/openapi.json",
        "HELPDESK_DATABASE_URL": f"sqlite:///{tmp_path / 'helpdesk.db'}",
    }
    with run_gateway(
        routes,
        legacy_app="legacy_app.wsgi:app",
        new_app="new_app.main:app",
        env=env,
        health_path="/_gateway/health",
    ) as server:
        assert _served(server, "/_gateway/openapi.json").status_code == 401
        admin = _served(server, "/_gateway/openapi.json", Authorization=f"Bearer {TOKEN}")
        assert admin.status_code == 200
        public = _served(server, "/openapi.json")
        assert public.status_code == 200 and public.headers["x-gateway-side"] == "gateway"
        assert public.json() == admin.json()
        validate(public.json())
        assert operation(public.json(), "get", "/api/me")["x-gateway-side"] == "new"

        write_routes(
            routes,
            ROUTES.replace(
                "{path: /api/me, methods: [GET], target: new}",
                "{path: /api/me, methods: [GET], target: legacy}",
            ),
        )

        def me_is_legacy() -> bool:
            me = operation(_served(server, "/openapi.json").json(), "get", "/api/me")
            return bool(me["x-gateway-side"] == "legacy")

        wait_for(me_is_legacy, timeout=30)


def test_without_the_setting_the_path_belongs_to_the_apps(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text("default: legacy\nroutes: []\n", encoding="utf-8")
    with run_gateway(routes) as server:
        answer = _served(server, "/openapi.json")
        assert answer.status_code == 404 and answer.headers["x-gateway-side"] == "legacy"


def test_the_admin_inventory_counts_this_gateways_traffic(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text("default: legacy\nroutes: []\n", encoding="utf-8")
    with run_gateway(routes, env={"GATEWAY_ADMIN_TOKEN": TOKEN}) as server:
        for _ in range(3):
            assert _served(server, "/api/items").status_code == 200
        answer = _served(server, "/_gateway/api/inventory", Authorization=f"Bearer {TOKEN}")
        assert answer.status_code == 200
        items = [
            e
            for e in answer.json()["endpoints"]
            if e["path"] == "/api/items" and e["method"] == "GET"
        ]
        assert items[0]["traffic"]["requests"] == 3
        assert answer.json()["summary"]["traffic_share_new"] == 0.0


@pytest.mark.parametrize(
    ("value", "problem"),
    [("openapi.json", "must start with '/'"), ("/_gateway/doc", "outside /_gateway/")],
)
def test_a_bad_openapi_path_is_refused(
    value: str, problem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_OPENAPI_PATH", value)
    with pytest.raises(ValidationError, match=problem):
        GatewaySettings()
