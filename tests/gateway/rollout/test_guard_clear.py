"""Clearing a guard's rollback: an edit of the entry (`guard.cleared`) that every worker sees,
and what `gateway routes` says about guards, their rollbacks and how to clear them."""

from __future__ import annotations

import datetime
import os
import subprocess
from pathlib import Path

import pytest

from gateway.config.routes_file import parse_routes
from gateway.rollout.actions import ActionError
from gateway.rollout.file_store import FileStore
from gateway.rollout.guard_clear import clear
from gateway.rollout.rollbacks import guard_report, live_lines
from tests.servers import SAMPLE_LEGACY, SAMPLE_NEW, bin_path, free_port, run_gateway
from tests.waiting import wait_for

NOW = datetime.datetime(2026, 12, 7, 17, 0, tzinfo=datetime.UTC)
ROUTES = """\
defaults:
  guard: {window: 120}
routes:
  - path: /a
    methods: [GET]
    target: new
    guard:          # the breaker
      min_requests: 50
  - {path: /b, target: new, guard: true}
  - {path: /c, target: new}
"""


def store(tmp_path: Path, text: str = ROUTES) -> FileStore:
    path = tmp_path / "routes.yaml"
    path.write_text(text, encoding="utf-8")
    return FileStore(path)


def entries(path: Path) -> dict[str, object]:
    table = parse_routes(path.read_bytes(), str(path))
    return {entry.path: entry for entry in table.entries}


def test_clear_writes_the_time_into_the_guard_and_keeps_the_rest(tmp_path: Path) -> None:
    routes = store(tmp_path)
    before = entries(routes.path)
    assert clear(routes, "/a", "GET", NOW) == "2026-12-07T17:00:00+00:00"
    text = routes.path.read_text(encoding="utf-8")
    assert "guard:          # the breaker" in text and "min_requests: 50" in text
    after = entries(routes.path)
    guard = after["/a"].options.guard  # type: ignore[attr-defined]
    assert guard.cleared == NOW and guard.min_requests == 50 and guard.window == 120
    # A new entry for the route state (its guard starts afresh); the others keep theirs.
    assert after["/a"].key != before["/a"].key  # type: ignore[attr-defined]
    assert after["/b"].key == before["/b"].key  # type: ignore[attr-defined]


def test_clear_on_guard_true_keeps_the_defaults(tmp_path: Path) -> None:
    routes = store(tmp_path)
    clear(routes, "/b", None, NOW)
    guard = entries(routes.path)["/b"].options.guard  # type: ignore[attr-defined]
    assert guard.cleared == NOW and guard.window == 120  # still the defaults' window


def test_clear_names_what_it_cannot_clear(tmp_path: Path) -> None:
    routes = store(tmp_path)
    with pytest.raises(ActionError, match="no entry for /c with a guard"):
        clear(routes, "/c")
    assert routes.path.read_text(encoding="utf-8") == ROUTES


def test_gateway_routes_gives_each_guard_s_rule_and_how_to_clear(tmp_path: Path) -> None:
    table = parse_routes(ROUTES.encode(), "routes.yaml")
    report = "\n".join(guard_report(table, None, None))
    assert "GET /a: over 120 s: errors with 50+ new-side answers, 5+ 5xx" in report
    assert "gateway rollout clear /a --method GET" in report
    assert "* /b:" in report and "gateway rollout clear /b" in report
    assert "/c" not in report


def test_live_lines_say_why_they_cannot_read() -> None:
    (line,) = live_lines(f"http://127.0.0.1:{free_port()}", None, timeout=5)
    assert line.startswith("could not read http://127.0.0.1:")


FLAKY = """\
routes:
  - path: /flaky
    methods: [GET]
    target: new
    guard: {min_requests: 5}
"""


def test_a_running_gateway_s_rollback_is_shown_then_cleared_from_the_command_line(
    tmp_path: Path,
) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(FLAKY, encoding="utf-8")
    env = {"GATEWAY_ADMIN_TOKEN": "clear-token"}
    with run_gateway(routes, env=env) as gateway, gateway.client() as client:
        for _ in range(5):
            client.get("/flaky", params={"status": 500})
        command_env = {**os.environ, **env}
        common = ["--routes-file", str(routes)]
        apps = ["--legacy-app", SAMPLE_LEGACY, "--new-app", SAMPLE_NEW]
        live = [bin_path("gateway"), "routes", *common, *apps, "--live", gateway.base_url]
        shown = subprocess.run(live, capture_output=True, text=True, timeout=120, env=command_env)
        assert shown.returncode == 0, shown.stderr
        assert "GET /flaky: rolled back to legacy at" in shown.stdout
        assert "new side: 5 5xx in 5 answers" in shown.stdout
        assert '"new_errors": 5' in shown.stdout
        assert "gateway rollout clear /flaky --method GET" in shown.stdout

        argv = [bin_path("gateway"), "rollout", "clear", "/flaky", *common]
        cleared = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        assert cleared.returncode == 0, cleared.stderr
        assert "/flaky: guard cleared at" in cleared.stdout

        def serves_new() -> bool:
            return bool(client.get("/flaky").headers.get("x-gateway-side") == "new")

        wait_for(serves_new, 30, "the new side answering again after the clear")
