"""The inventory of the example help desk, through `gateway inventory` as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.gateway.parity.ledgers import seen, sqlite_url, write
from tests.servers import REPO_ROOT, bin_path, run_gateway

EXAMPLE_ROUTES = REPO_ROOT / "config" / "routes.yaml"


def gateway(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # The example apps, as `make run` serves them; their database in a temporary file.
    return subprocess.run(
        [bin_path("gateway"), *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=240,
        cwd=REPO_ROOT,
    )


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    database = tmp_path_factory.mktemp("db") / "helpdesk.db"
    done = gateway(
        "inventory",
        "--format",
        "json",
        env={"HELPDESK_DATABASE_URL": f"sqlite:///{database}"},
    )
    assert done.returncode == 0, done.stderr
    inventory: dict[str, Any] = json.loads(done.stdout)
    return inventory


def endpoint(inventory: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    found = [e for e in inventory["endpoints"] if e["method"] == method and e["path"] == path]
    assert len(found) == 1, (method, path)
    record: dict[str, Any] = found[0]
    return record


def test_the_ticket_view_reads_the_user_its_hook_writes(example: dict[str, Any]) -> None:
    ticket = endpoint(example, "GET", "/api/tickets/{ticket_id:int}")
    # Read by permissions.current_user(), reached through can_view() from the view's helper.
    assert "user" in ticket["g_reads"]
    assert ticket["view"] == {
        "function": "legacy_app.tickets:get_ticket",
        "file": "legacy_app/tickets.py",
        "line": ticket["view"]["line"],
        "blueprint": "api.tickets",
    }
    assert 404 in ticket["aborts"]
    hooks = {(hook["kind"], hook["function"]): hook for hook in ticket["hooks"]}
    authenticate = hooks[("before_request", "legacy_app.auth:authenticate")]
    assert authenticate["scope"] == "blueprint api"
    assert "user" in authenticate["g_writes"]
    assert authenticate["session"]["reads"] == ["user_id"]
    assert authenticate["request"] == ["headers"]
    assert 401 in authenticate["aborts"]
    assert ("teardown_appcontext", "legacy_app.dbsession:_close_session") in hooks
    assert ticket["target"] == "new" and ticket["served_by_new"] is True
    assert ticket["parity"] is None


def test_health_reads_no_g_attribute_and_runs_no_auth_hook(example: dict[str, Any]) -> None:
    health = endpoint(example, "GET", "/health")
    assert health["g_reads"] == []
    # get_db() keeps its session on g: written (and read back) by itself.
    assert health["g_writes"] == ["db_session"]
    assert "before_request" not in {hook["kind"] for hook in health["hooks"]}
    assert health["target"] == "legacy" and health["order"] is not None


def test_every_record_has_the_documented_fields(example: dict[str, Any]) -> None:
    fields = {"method", "path", "view", "hooks", "g_reads", "g_writes", "request", "session"}
    fields |= {"aborts", "target", "parity", "traffic", "order", "reason", "extensions"}
    fields |= {"templates"}
    for record in example["endpoints"]:
        assert fields <= set(record), record["path"]
    login = endpoint(example, "POST", "/login")
    assert login["session"]["writes"] == ["*", "user_id"]  # session.clear(), then the user id
    assert login["request"] == ["get_json", "headers", "remote_addr"]  # audit.record() too
    listing = endpoint(example, "GET", "/api/tickets")
    assert listing["target"] == "canary 25%"
    # Where it could not follow: paginate() calls the serializer it was given.
    assert any("pagination.py" in place for place in listing["unresolved"])
    assert example["summary"]["served_by_new"] == 2


def test_order_puts_busy_loosely_coupled_endpoints_first(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text("default: legacy\nroutes: []\n", encoding="utf-8")
    env = {"HELPDESK_DATABASE_URL": f"sqlite:///{tmp_path / 'helpdesk.db'}"}
    with run_gateway(
        routes,
        legacy_app="legacy_app.wsgi:app",
        new_app="new_app.main:app",
        env=env,
        health_path="/_gateway/health",
    ) as server:
        with server.client() as client:
            for _ in range(9):
                assert client.get("/health").status_code == 200
            headers = {"X-Token": "agent-token"}
            assert client.get("/api/users/1", headers=headers).status_code == 200
        metrics = server.base_url + "/metrics"
        done = gateway(
            *("inventory", "--format", "json", "--routes-file", str(routes)),
            *("--metrics", metrics, "--metrics", metrics),
            env=env,
        )
    assert done.returncode == 0, done.stderr
    inventory = json.loads(done.stdout)
    health = endpoint(inventory, "GET", "/health")
    user = endpoint(inventory, "GET", "/api/users/{user_id:int}")
    # Two /metrics URLs are summed (the same gateway twice here): 18 and 2 of 20 requests.
    assert health["traffic"]["requests"] == 18
    assert health["traffic"]["share"] == pytest.approx(0.9)
    assert health["traffic"]["p99_seconds"] > 0
    assert user["traffic"]["share"] == pytest.approx(0.1)
    assert health["order"] == 1
    assert "90.0% of traffic" in health["reason"]
    assert user["order"] < endpoint(inventory, "GET", "/api/users")["order"]


@pytest.mark.parametrize("output", ["table", "markdown"])
def test_text_formats_show_the_order_and_the_summary(output: str, tmp_path: Path) -> None:
    env = {
        "HELPDESK_DATABASE_URL": f"sqlite:///{tmp_path / 'helpdesk.db'}",
        "GATEWAY_DATA_DIR": str(tmp_path / "data"),
    }
    done = gateway("inventory", "--format", output, env=env)
    assert done.returncode == 0, done.stderr
    assert "2 of 19 legacy endpoints are served by the new side (11%)." in done.stdout
    assert "/api/tickets/{ticket_id:int}" in done.stdout
    assert f"parity: no shadow ledger yet at sqlite:///{tmp_path / 'data'}" in done.stdout


def test_an_unreachable_metrics_url_is_a_clear_error(tmp_path: Path) -> None:
    env = {"HELPDESK_DATABASE_URL": f"sqlite:///{tmp_path / 'helpdesk.db'}"}
    done = gateway("inventory", "--metrics", "http://127.0.0.1:9/metrics", env=env)
    assert done.returncode == 1
    assert "could not read metrics from http://127.0.0.1:9/metrics" in done.stderr


def test_the_quick_start_shows_what_the_command_prints(tmp_path: Path) -> None:
    readme = (REPO_ROOT / "docs" / "getting-started.md").read_text(encoding="utf-8")
    block = readme.split("    $ .venv/bin/gateway inventory\n", 1)[1].split("\n\n", 2)
    shown = [line[4:] for line in "\n".join(block[:2]).splitlines() if line.strip() != "..."]
    env = {"HELPDESK_DATABASE_URL": f"sqlite:///{tmp_path / 'helpdesk.db'}"}
    done = gateway("inventory", env=env)
    assert done.returncode == 0, done.stderr
    printed = done.stdout.splitlines()
    for line in shown:
        assert line in printed, line


def test_parity_comes_from_the_ledger_per_table_entry(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    now = time.time()
    outcomes = ["match", "match", "match", "mismatch"]
    write(sqlite_url(data), [seen(now, o, route="/api/tickets") for o in outcomes])
    env = {
        "HELPDESK_DATABASE_URL": f"sqlite:///{tmp_path / 'helpdesk.db'}",
        "GATEWAY_DATA_DIR": str(data),
    }
    done = gateway("inventory", "--format", "json", env=env)
    assert done.returncode == 0, done.stderr
    inventory = json.loads(done.stdout)
    assert inventory["parity_source"] == sqlite_url(data)
    listing = endpoint(inventory, "GET", "/api/tickets")
    assert listing["parity"]["compared"] == 4
    assert listing["parity"]["match_ratio"] == pytest.approx(0.75)
    assert listing["parity"]["route"] == "/api/tickets"
    assert endpoint(inventory, "GET", "/health")["parity"] is None  # no comparisons there
    table = gateway("inventory", env=env)
    assert f"parity: from the ledger at {sqlite_url(data)}" in table.stdout
