"""`target: match` over the real server: which rule decides, and what `gateway check` refuses."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.gateway.test_server import metric
from tests.servers import SAMPLE_LEGACY, SAMPLE_NEW, ServerProcess, bin_path, run_gateway
from tests.waiting import wait_for

TOKEN = "match-admin-token"
ROUTES = """\
default: legacy
routes:
  - path: /api/items/{item_id}
    methods: [GET]
    target: match
    rules:
      - header: X-Beta        # staff and beta testers first
        equals: 1
        side: new
      - cookie: beta
        in: ["yes", "please"]
        side: new
      - query: side
        equals: legacy
        side: legacy
      - session: user_id      # the legacy app's signed session
        in: ["7"]
        side: new
      - query: beta
        present: true
        side: new
    otherwise: legacy
"""


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    routes_file = tmp_path_factory.mktemp("match") / "routes.yaml"
    routes_file.write_text(ROUTES, encoding="utf-8")
    with run_gateway(routes_file, env={"GATEWAY_ADMIN_TOKEN": TOKEN}) as server:
        yield server


def _side(server: ServerProcess, **kwargs: object) -> str:
    response = httpx.get(server.base_url + "/api/items/1", timeout=10, **kwargs)  # type: ignore[arg-type]
    assert response.status_code == 200
    side = response.headers["x-gateway-side"]
    assert response.json()["app"] == side  # the side's own answer, not the gateway's
    return side


@pytest.mark.parametrize(
    ("request_facts", "side"),
    [
        pytest.param({}, "legacy", id="otherwise"),
        pytest.param({"headers": {"X-Beta": "1"}}, "new", id="header"),
        pytest.param({"headers": {"X-Beta": "2"}}, "legacy", id="header-other-value"),
        pytest.param({"headers": {"Cookie": "beta=please"}}, "new", id="cookie-in"),
        pytest.param({"headers": {"Cookie": "beta=no"}}, "legacy", id="cookie-not-in"),
        pytest.param({"params": {"side": "legacy"}}, "legacy", id="query-equals"),
        pytest.param({"params": [("beta", ""), ("beta", "x")]}, "new", id="query-present"),
        pytest.param(
            {"headers": {"X-Beta": "1"}, "params": {"side": "legacy"}}, "new", id="first-rule-wins"
        ),
        pytest.param(
            {"headers": {"Cookie": "beta=yes"}, "params": {"side": "legacy", "beta": "1"}},
            "new",
            id="earlier-rule-wins-over-later",
        ),
        pytest.param(
            {"params": {"side": "legacy", "beta": "1"}}, "legacy", id="rule-order-not-specificity"
        ),
    ],
)
def test_the_first_rule_that_holds_decides(
    gateway: ServerProcess, request_facts: dict[str, object], side: str
) -> None:
    assert _side(gateway, **request_facts) == side


def test_a_session_rule_reads_the_legacy_apps_signed_session(gateway: ServerProcess) -> None:
    sides = {}
    for user in ("7", "8"):
        with gateway.client() as client:
            client.post(f"/login/{user}").raise_for_status()  # the legacy app signs the cookie
            sides[user] = client.get("/api/items/1").headers["x-gateway-side"]
    assert sides == {"7": "new", "8": "legacy"}
    with gateway.client() as client:
        client.post("/login/7").raise_for_status()
        cookie = client.cookies["session"]
    forged = cookie[:-4] + ("AAAA" if not cookie.endswith("AAAA") else "BBBB")
    assert _side(gateway, headers={"Cookie": f"session={forged}"}) == "legacy"


def test_decisions_are_counted_and_logged_by_rule(gateway: ServerProcess) -> None:
    route = "/api/items/{item_id}"
    before = metric(gateway, "gateway_match_decisions_total", route=route, rule="0", side="new")
    response = httpx.get(
        gateway.base_url + "/api/items/1", headers={"X-Beta": "1", "X-Request-ID": "match-log-1"}
    )
    assert response.headers["x-gateway-side"] == "new"
    labels = {"route": route, "rule": "0", "side": "new"}
    assert metric(gateway, "gateway_match_decisions_total", **labels) == before + 1
    httpx.get(gateway.base_url + "/api/items/1", headers={"X-Request-ID": "match-log-2"})
    otherwise = {"route": route, "rule": "otherwise", "side": "legacy"}
    assert metric(gateway, "gateway_match_decisions_total", **otherwise) >= 1

    def logged() -> dict[str, str]:
        decisions = {}
        for line in gateway.log().splitlines():
            if line.startswith("{") and "match-log-" in line:
                record = json.loads(line)
                decisions[record["request_id"]] = record.get("decision")
        return decisions

    wait_for(lambda: len(logged()) == 2, timeout=10)
    assert logged() == {"match-log-1": "rule 0", "match-log-2": "otherwise"}


def test_the_admin_api_and_gateway_routes_show_the_rules(gateway: ServerProcess) -> None:
    routes = httpx.get(
        gateway.base_url + "/_gateway/api/routes", headers={"Authorization": f"Bearer {TOKEN}"}
    ).json()["routes"]
    (entry,) = routes
    assert entry["summary"] == "match (5 rules, else legacy)"
    assert entry["rules"][0] == "header X-Beta = '1' -> new"
    assert entry["rules"][3] == "session user_id in ['7'] -> new"
    assert entry["otherwise"] == "legacy"


def _gateway_command(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GATEWAY_LEGACY_APP": SAMPLE_LEGACY, "GATEWAY_NEW_APP": SAMPLE_NEW}
    return subprocess.run(
        [bin_path("gateway"), *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_gateway_routes_says_where_a_match_entry_sends(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(ROUTES, encoding="utf-8")
    done = _gateway_command("routes", "--routes-file", str(path))
    assert done.returncode == 0, done.stderr
    assert "match (5 rules, else legacy)" in done.stdout


def _entry(rules: str, path: str = "/api/items/{item_id}") -> str:
    return f"routes:\n  - path: '{path}'\n    target: match\n    rules:\n{rules}"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param(
            _entry("      - {ip: 10.0.0.1, equals: x, side: new}\n"),
            "routes[0] (line 2): rules.0.ip: unknown key",
            id="unknown-fact",
        ),
        pytest.param(
            _entry("      - {header: X-A, matches: 'a.*', side: new}\n"),
            "routes[0] (line 2): rules.0.matches: unknown key",
            id="unknown-operator",
        ),
        pytest.param(
            _entry("      - {header: X-A, side: new}\n"),
            "routes[0] (line 2): rules.0: a rule has exactly one operator",
            id="no-operator",
        ),
        pytest.param(
            "routes:\n  - path: /x\n    target: match\n    rules: []\n",
            "routes[0] (line 2): rules: a match entry needs at least one rule",
            id="empty-rules",
        ),
        pytest.param(
            _entry("      - {header: X-A, equals: '1', side: new}\n", path="/login/{user_id}"),
            "targets 'match' but the new app (tests.gateway.sample_apps:fastapi_app) has no route",
            id="side-the-new-app-cannot-serve",
        ),
        pytest.param(
            _entry("      - {header: X-A, equals: '1', side: canary}\n"),
            "routes[0] (line 2): rules.0.side: Input should be 'legacy' or 'new'",
            id="bad-side",
        ),
    ],
)
def test_gateway_check_refuses_malformed_rules(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(text, encoding="utf-8")
    done = _gateway_command("check", "--routes-file", str(path))
    assert done.returncode == 1
    assert problem in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
