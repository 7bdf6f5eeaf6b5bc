"""Shadow copies over the real server: header rules for the copy (inherited from the routes
file's defaults), and mismatch events as JSON lines, header-only ones grouped."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.gateway.test_server import metric
from tests.servers import ServerProcess, bin_path, free_port, run_server
from tests.waiting import wait_for

APPS = "tests.gateway.behaviours.shadow_apps"
SECRET = "s3cret-shadow-token-value"
ADMIN_TOKEN = "shadow-admin-token"
ROUTES = """\
defaults:
  shadow:
    summary_every: 1
    request_headers:
      drop: [Authorization, Cookie]
      set: {X-Token: "${SHADOW_TEST_TOKEN}", X-Auth: "Bearer ${SHADOW_TEST_TOKEN}"}
routes:
  - {path: /echo, methods: [GET], target: shadow}
  - {path: /body, methods: [GET], target: shadow, shadow: {noise_sample: 0}}
  - {path: /login, methods: [GET], target: shadow, shadow: {noise_sample: 0}}
  - {path: /large, methods: [GET], target: shadow, shadow: {max_body: 10}}
  - {path: /large-copies, target: new}
  - {path: /received, target: new}
  - {path: /legacy-received, target: legacy}
"""


class Gateway:
    def __init__(self, server: ServerProcess, stderr: Path) -> None:
        self.server = server
        self.stderr = stderr

    def events(self, event: str) -> list[dict[str, Any]]:
        """Every line of the server's stderr that is a JSON event of this kind."""
        found = []
        for line in self.stderr.read_text(encoding="utf-8").splitlines():
            if f'"event": "{event}"' in line:
                found.append(json.loads(line))  # the whole line: no prefix before the object
        return found


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    routes = tmp_path / "routes.yaml"
    routes.write_text(ROUTES)
    stderr = tmp_path / "stderr.log"
    env = {"SHADOW_TEST_TOKEN": SECRET, "GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN}
    port = free_port()
    serve = [bin_path("gateway"), "serve", "--port", str(port), "--routes-file", str(routes)]
    serve += ["--legacy-app", f"{APPS}:flask_app", "--new-app", f"{APPS}:fastapi_app"]
    # `gateway serve` with its stderr on its own, as a log collector would read it.
    argv = ["sh", "-c", f'exec "$@" 2>"{stderr}"', "sh", *serve]
    with run_server(argv, port=port, env=env, health_path="/metrics") as server:
        yield Gateway(server, stderr)


def comparisons(server: ServerProcess, route: str, outcome: str) -> float:
    return metric(server, "gateway_shadow_comparisons_total", route=route, outcome=outcome)


def test_the_copy_gets_the_header_rules_and_the_primary_what_was_sent(
    gateway: Gateway,
) -> None:
    sent = {
        "Authorization": "Basic legacy-login",
        "Cookie": "session=legacy",
        "X-Token": "client-token",
        "X-Kept": "kept",
        "X-Gateway-Shadow": "forged",  # the gateway's mark, which only it may set
    }
    with gateway.server.client() as client:
        assert client.get("/echo", headers=sent).json() == {"ok": True}
        wait_for(lambda: len(client.get("/received").json()) == 1, 15)
        (copied,) = client.get("/received").json()
        (primary,) = client.get("/legacy-received").json()
    assert "authorization" not in copied and "cookie" not in copied
    assert copied["x-token"] == SECRET and copied["x-auth"] == f"Bearer {SECRET}"
    assert copied["x-kept"] == "kept" and copied["x-gateway-shadow"] == "1"
    assert primary["authorization"] == "Basic legacy-login" and primary["x-token"] == "client-token"
    assert "x-gateway-shadow" not in primary

    # The value is never shown: the admin API gives the rules as the file writes them.
    admin = httpx.get(
        gateway.server.base_url + "/_gateway/api/routes",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert admin.status_code == 200
    assert SECRET not in admin.text and "${SHADOW_TEST_TOKEN}" in admin.text
    assert SECRET not in gateway.server.log() + gateway.stderr.read_text()


def test_header_only_mismatches_are_one_line_then_counted(gateway: Gateway) -> None:
    repeats = 6
    with gateway.server.client() as client:
        for number in range(repeats):
            headers = {"X-Request-ID": f"echo-{number}"}
            assert client.get("/echo", headers=headers).status_code == 200
    wait_for(lambda: comparisons(gateway.server, "/echo", "mismatch") == repeats, 15)

    def summarised() -> int:
        return sum(line["count"] for line in gateway.events("shadow_mismatch_summary"))

    # Every mismatch is counted once: the first in full, the others in summary lines.
    wait_for(lambda: summarised() == repeats - 1, 15)
    (first,) = gateway.events("shadow_mismatch")
    assert first["route"] == "/echo" and first["grouped"] is True
    assert first["differences"] == [
        {
            "field": "header:access-control-allow-origin",
            "kind": "missing",
            "primary": "*",
            "shadow": "(absent)",
        }
    ]
    summary = gateway.events("shadow_mismatch_summary")[-1]
    assert summary["fields"] == ["header:access-control-allow-origin"]
    assert summary["last_request_id"] == f"echo-{repeats - 1}"
    # The access log's time format: ISO 8601 in UTC, to the millisecond.
    assert first["time"].endswith("+00:00") and "T" in first["time"]


def test_body_mismatches_are_each_logged(gateway: Gateway) -> None:
    with gateway.server.client() as client:
        for number in range(3):
            client.get("/body", headers={"X-Request-ID": f"body-{number}"})
    wait_for(lambda: len(gateway.events("shadow_mismatch")) == 3, 15)
    logged = gateway.events("shadow_mismatch")
    assert {line["request_id"] for line in logged} == {"body-0", "body-1", "body-2"}
    assert all("grouped" not in line for line in logged)
    assert logged[0]["differences"] == [
        {"field": "body:$.value", "kind": "changed", "primary": "1", "shadow": "2"}
    ]
    # Nothing else on stderr claims to be a mismatch; stdout (the access log) has none.
    lines = gateway.stderr.read_text().splitlines()
    assert not [line for line in lines if "shadow_" in line and not line.startswith("{")]
    assert "shadow_mismatch" not in gateway.server.log()


def test_secret_values_that_differ_are_redacted_in_the_log_and_the_admin_api(
    gateway: Gateway,
) -> None:
    with gateway.server.client() as client:
        assert client.get("/login").json() == {"token": "legacy-token-value"}
    wait_for(lambda: comparisons(gateway.server, "/login", "mismatch") == 1, 15)
    wait_for(lambda: len(gateway.events("shadow_mismatch")) == 1, 15)
    (logged,) = gateway.events("shadow_mismatch")
    fields = {difference["field"] for difference in logged["differences"]}
    assert fields == {"header:set-cookie", "body:$.token"}
    assert all(d["primary"] == d["shadow"] == "[redacted]" for d in logged["differences"])
    recent = httpx.get(
        gateway.server.base_url + "/_gateway/api/mismatches",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert recent.status_code == 200 and "[redacted]" in recent.text
    shown = gateway.server.log() + gateway.stderr.read_text() + recent.text
    for secret in ("legacy-token-value", "new-token-value", "cookie-value"):
        assert secret not in shown


def test_no_copy_is_sent_when_the_primary_s_answer_is_too_large_to_compare(
    gateway: Gateway,
) -> None:
    with gateway.server.client() as client:
        assert client.get("/large").status_code == 200  # the client's answer is whole
        wait_for(lambda: comparisons(gateway.server, "/large", "skipped") == 1, 15)
        # Skipped before a copy was sent: the other side did no work for nothing.
        assert client.get("/large-copies").json() == 0
