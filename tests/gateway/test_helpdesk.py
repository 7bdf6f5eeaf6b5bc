"""The shipped example: the help-desk apps behind `gateway serve` with config/routes.yaml."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.gateway.test_server import metric
from tests.helpdesk import (
    app_env,
    audit_events,
    cookie_header,
    login_cookie,
    seed_database,
    token,
)
from tests.servers import REPO_ROOT, ServerProcess, run_gateway
from tests.waiting import wait_for

ROUTES_FILE = REPO_ROOT / "config" / "routes.yaml"


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seed_database(tmp_path_factory.mktemp("helpdesk") / "helpdesk.db")


@pytest.fixture(scope="module")
def gateway(database: Path) -> Iterator[ServerProcess]:
    with run_gateway(
        ROUTES_FILE,
        legacy_app="legacy_app.wsgi:app",
        new_app="new_app.main:app",
        env=app_env(database),
    ) as server:
        yield server


def test_the_shipped_table_sends_each_endpoint_where_it_says(gateway: ServerProcess) -> None:
    with gateway.client(headers=token("agent")) as client:
        cases = {
            "/health": "legacy",
            "/api/me": "new",
            "/api/tickets/1": "new",
            "/api/tickets/export.csv": "legacy",
            "/api/users/1": "legacy",
            "/api/tickets/1/comments": "legacy",  # shadow: legacy answers
        }
        for path, side in cases.items():
            response = client.get(path)
            assert response.status_code == 200, (path, response.text)
            assert response.headers["x-gateway-side"] == side, path
        export = client.get("/api/tickets/export.csv")
        rows = list(csv.reader(io.StringIO(export.text)))
        assert rows[0][0] == "id" and len(rows) > 1


def test_a_legacy_login_cookie_works_on_the_new_side(gateway: ServerProcess) -> None:
    cookie = login_cookie(gateway, "customer")
    response = httpx.get(gateway.base_url + "/api/me", headers=cookie_header(cookie))
    assert response.headers["x-gateway-side"] == "new"
    assert response.json()["email"] == "customer@example.com"
    unauthenticated = httpx.get(gateway.base_url + "/api/me")
    assert unauthenticated.status_code == 401
    assert unauthenticated.json()["error"]["code"] == "unauthorized"


def test_the_canary_keeps_each_token_on_one_side(gateway: ServerProcess) -> None:
    sides = {}
    for who in ("admin", "agent", "customer", "agent2", "customer2"):
        seen = {
            httpx.get(gateway.base_url + "/api/tickets", headers=token(who)).headers[
                "x-gateway-side"
            ]
            for _ in range(5)
        }
        assert len(seen) == 1, who
        sides[who] = seen.pop()
    assert set(sides.values()) <= {"legacy", "new"}


def test_the_shadowed_comments_match_between_the_two_apps(gateway: ServerProcess) -> None:
    route = "/api/tickets/{ticket_id:int}/comments"
    before = metric(gateway, "gateway_shadow_comparisons_total", route=route, outcome="match")
    with gateway.client(headers=token("agent")) as client:
        for ticket in (1, 2, 3, 999):
            client.get(f"/api/tickets/{ticket}/comments")
    wait_for(
        lambda: (
            metric(gateway, "gateway_shadow_comparisons_total", route=route, outcome="match")
            == before + 4
        ),
        5,
    )
    assert metric(gateway, "gateway_shadow_comparisons_total", route=route, outcome="mismatch") == 0


def test_request_ids_reach_the_legacy_apps_own_audit_log(
    gateway: ServerProcess, database: Path
) -> None:
    with gateway.client(headers={**token("agent"), "X-Request-ID": "audit-probe-7"}) as client:
        created = client.post(
            "/api/tickets", json={"title": "From the gateway", "description": "x"}
        )
    assert created.status_code == 201, created.text
    assert created.headers["x-gateway-side"] == "legacy"
    assert created.headers["x-request-id"] == "audit-probe-7"
    assert "audit-probe-7" in {event.request_id for event in audit_events(database)}


def test_metrics_label_requests_by_template_on_both_sides(gateway: ServerProcess) -> None:
    with gateway.client(headers=token("admin")) as client:
        client.get("/api/users/2")  # default: legacy, labelled with Flask's rule
        client.get("/api/tickets/2")  # the table: new
    labels = {"side": "legacy", "method": "GET", "status": "200"}
    assert (
        metric(gateway, "gateway_requests_total", route="/api/users/{user_id:int}", **labels) >= 1
    )
    labels["side"] = "new"
    assert (
        metric(gateway, "gateway_requests_total", route="/api/tickets/{ticket_id:int}", **labels)
        >= 1
    )
