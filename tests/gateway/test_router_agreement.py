"""The Conduit shape end to end: `gateway check` refuses an entry that captures another
endpoint's path, `gateway routes` marks that endpoint, and a running gateway warns and counts.

All in-process: the commands through Click's runner, the gateway through `create_app`.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from typer.testing import CliRunner, Result

from gateway.app import create_app
from gateway.cli import cli
from gateway.frameworks.agreement import Conflict, RouterAgreement
from gateway.routing.table import RouteTable
from tests.gateway.in_process import serving, settings

LEGACY = "tests.frameworks.conduit_apps:legacy"
NEW = "tests.frameworks.conduit_apps:new"
NEW_WITH_FEED = "tests.frameworks.conduit_apps:new_with_feed"
SLUG_TO_NEW = "routes:\n  - {path: '/api/articles/{slug}', target: new}\n"
WITH_LITERAL = SLUG_TO_NEW + "  - {path: /api/articles/feed, target: legacy}\n"


def run(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    command: str,
    routes: str,
    new: str = NEW,
    legacy: str = LEGACY,
) -> tuple[Result, Path]:
    path = tmp_path / "routes.yaml"
    path.write_text(routes, encoding="utf-8")
    # The command writes its options back to the environment (for workers): undone after.
    for name, value in [
        ("GATEWAY_ROUTES_FILE", str(path)),
        ("GATEWAY_LEGACY_APP", legacy),
        ("GATEWAY_NEW_APP", new),
    ]:
        monkeypatch.setenv(name, value)
    return CliRunner().invoke(cli, [command]), path


def errors(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error: ")]


def test_check_refuses_the_entry_naming_both_endpoints(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    result, path = run(monkeypatch, tmp_path, "check", SLUG_TO_NEW)
    assert result.exit_code == 1
    (error,) = errors(result)
    assert error.startswith(f"error: {path}: routes[0] (line 2) '/api/articles/{{slug}}'")
    assert "captures GET /api/articles/feed" in error
    assert "articles_feed (/api/articles/feed)" in error and "not to get_article" in error
    assert "add an entry for path /api/articles/feed" in error
    assert not result.stdout.rstrip().endswith("ok")


def test_check_passes_once_a_literal_entry_is_added(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    result, _ = run(monkeypatch, tmp_path, "check", WITH_LITERAL)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.rstrip().endswith("ok")


def test_check_names_the_new_apps_endpoint_when_its_router_disagrees_too(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    result, _ = run(monkeypatch, tmp_path, "check", SLUG_TO_NEW, new=NEW_WITH_FEED)
    assert result.exit_code == 1
    legacy, new = sorted(errors(result))
    assert "legacy app's own router sends to articles_feed" in legacy
    assert "new app's own router sends to new_feed (/api/articles/feed)" in new
    assert "not to new_article" in new


def test_routes_marks_the_captured_endpoint(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    result, _ = run(monkeypatch, tmp_path, "routes", SLUG_TO_NEW)
    assert result.exit_code == 0, result.stderr
    lines = {line.split()[2]: line for line in result.stdout.splitlines() if "/api/" in line}
    assert "! captured by routes[0] (line 2)" in lines["/api/articles/feed"]
    assert "!" not in lines["/api/articles/{slug}"]


def test_a_running_gateway_warns_counts_and_keeps_serving(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    registry = CollectorRegistry()
    given = settings(tmp_path, SLUG_TO_NEW, legacy_app=LEGACY, new_app=NEW)

    def conflicts(side: str) -> float | None:
        return registry.get_sample_value("gateway_route_conflicts", {"side": side})

    async def scenario() -> None:
        with caplog.at_level(logging.WARNING, logger="gateway.reload"):
            async with serving(given, registry) as (gateway, client):
                (warning,) = [r for r in caplog.records if "captures" in r.getMessage()]
                assert (
                    warning.levelno == logging.WARNING and "articles_feed" in warning.getMessage()
                )
                assert (conflicts("legacy"), conflicts("new")) == (1, 0)
                # The file loaded all the same, and the capture is real: the new app answers
                # the feed as an article named "feed".
                answer = (await client.get("/api/articles/feed")).json()
                assert answer == {"app": "new", "view": "article", "slug": "feed"}

                caplog.clear()
                given.routes_file.write_text(WITH_LITERAL, encoding="utf-8")
                assert (await gateway.live.reload("api")).ok
                assert conflicts("legacy") == 0
                assert not [r for r in caplog.records if "captures" in r.getMessage()]
                answer = (await client.get("/api/articles/feed")).json()
                assert answer == {"app": "legacy", "view": "feed"}

    asyncio.run(scenario())


def test_a_check_that_fails_leaves_the_table_loading_unchecked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(self: RouterAgreement, table: RouteTable) -> list[Conflict]:
        raise RuntimeError("a bug in the check")

    monkeypatch.setattr(RouterAgreement, "conflicts", broken)
    given = settings(tmp_path, SLUG_TO_NEW, legacy_app=LEGACY, new_app=NEW)
    with caplog.at_level(logging.ERROR, logger="gateway.reload"):
        gateway = create_app(given, registry=CollectorRegistry())
    assert [entry.path for entry in gateway.live.table.entries] == ["/api/articles/{slug}"]
    (record,) = [r for r in caplog.records if "could not be checked" in r.getMessage()]
    assert record.exc_info is not None and record.exc_info[0] is RuntimeError


def test_check_says_when_the_legacy_router_cannot_be_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    plain = "tests.frameworks.plain_app:app"  # a WSGI function: no router to read
    result, _ = run(monkeypatch, tmp_path, "check", SLUG_TO_NEW, legacy=plain)
    assert result.exit_code == 0, result.stderr
    assert "legacy app's router cannot be read" in result.stderr
