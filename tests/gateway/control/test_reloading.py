"""Live reload of the routes file is supervised: no failure of one attempt ends it.

The unit tests drive a real LiveRouteTable (files in a temporary folder, watchfiles, a fresh
metrics registry); the server tests break and then fix the routes file of a running
`gateway serve` and watch what its metrics and admin API say.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from gateway.config.routes_file import RoutesFileError, parse_routes
from gateway.control.reloading import LiveRouteTable
from gateway.observe.metrics import GatewayMetrics
from gateway.routing.table import RouteTable
from tests.gateway.test_server import ROUTES, metric, side_of, write_routes
from tests.servers import ServerProcess, run_gateway
from tests.waiting import wait_for

ROUTES_A = "routes:\n  - {path: /a, target: new}\n"
ROUTES_B = "routes:\n  - {path: /b, target: new}\n"
TOKEN = "reload-test-token"


def build_with_a_bug(content: bytes, source: str) -> RouteTable:
    """A table builder with a bug that a marker in the file sets off."""
    if b"#bug" in content:
        raise RuntimeError("a bug in the table builder")
    return parse_routes(content, source)


def live_table(path: Path) -> tuple[LiveRouteTable, CollectorRegistry]:
    registry = CollectorRegistry()
    return LiveRouteTable(path, build_with_a_bug, GatewayMetrics(registry)), registry


def reloads(registry: CollectorRegistry, result: str) -> float:
    value = registry.get_sample_value("gateway_config_reloads_total", {"result": result})
    return value or 0.0


def last_successful(registry: CollectorRegistry) -> float | None:
    return registry.get_sample_value("gateway_config_last_reload_successful")


def paths(live: LiveRouteTable) -> list[str]:
    return [entry.path for entry in live.table.entries]


async def until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s")
        await asyncio.sleep(0.02)


async def write_until(path: Path, text: str, condition: Callable[[], bool]) -> None:
    """Write `text` (made distinct each time) until the watcher has acted on it.

    A watcher starts watching a moment after its task starts, and edits made before that go
    unseen: writing again until the condition holds waits for it without guessing how long.
    """
    deadline = time.monotonic() + 20.0
    attempt = 0
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("the watcher never acted on the edit")
        attempt += 1
        path.write_text(f"{text}# edit {attempt}\n", encoding="utf-8")
        for _ in range(25):
            if condition():
                return
            await asyncio.sleep(0.02)


@asynccontextmanager
async def watching(live: LiveRouteTable) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(live.watch())
    try:
        yield task
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


def test_an_unexpected_error_is_a_failed_reload_logged_with_its_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(ROUTES_A, encoding="utf-8")

    async def scenario() -> None:
        live, registry = live_table(path)
        path.write_text(ROUTES_B + "#bug\n", encoding="utf-8")
        with caplog.at_level(logging.ERROR, logger="gateway.reload"):
            result = await live.reload("api")
        assert not result.ok and live.last is result
        assert result.error == f"{path}: unexpected error: RuntimeError: a bug in the table builder"
        assert paths(live) == ["/a"]  # the table in force keeps serving
        assert reloads(registry, "failure") == 1 and last_successful(registry) == 0
        (record,) = [r for r in caplog.records if "failed unexpectedly" in r.getMessage()]
        assert record.exc_info is not None and record.exc_info[0] is RuntimeError

        path.write_text(ROUTES_B, encoding="utf-8")
        assert (await live.reload("api")).ok
        assert paths(live) == ["/b"] and last_successful(registry) == 1

    run(scenario)


def test_the_watch_goes_on_after_an_unexpected_error(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(ROUTES_A, encoding="utf-8")

    async def scenario() -> None:
        live, registry = live_table(path)
        async with watching(live) as task:
            await write_until(path, ROUTES_B + "#bug\n", lambda: reloads(registry, "failure") > 0)
            assert not task.done() and paths(live) == ["/a"]
            assert live.last.error is not None and "RuntimeError" in live.last.error
            path.write_text(ROUTES_B, encoding="utf-8")
            await until(lambda: paths(live) == ["/b"])
            assert live.last.ok and live.last.trigger == "watch"

    run(scenario)


def test_the_watch_goes_on_after_a_file_no_parser_could_read(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(ROUTES_A, encoding="utf-8")

    async def scenario() -> None:
        live, registry = live_table(path)
        async with watching(live):
            await write_until(path, "default: legacy\x07\n", lambda: not live.last.ok)
            assert live.last.error is not None and "U+0007" in live.last.error
            path.write_bytes(b"routes:\n  - {path: /b, target: new}\n# \xff\n")
            await until(lambda: live.last.error is not None and "not UTF-8" in live.last.error)
            path.write_text(ROUTES_B, encoding="utf-8")
            await until(lambda: paths(live) == ["/b"])
        assert reloads(registry, "failure") >= 2 and last_successful(registry) == 1

    run(scenario)


def test_the_watch_survives_its_folder_being_removed(tmp_path: Path) -> None:
    folder = tmp_path / "config"
    folder.mkdir()
    path = folder / "routes.yaml"
    path.write_text(ROUTES_A, encoding="utf-8")

    async def scenario() -> None:
        live, registry = live_table(path)
        async with watching(live) as task:
            await write_until(path, ROUTES_A, lambda: reloads(registry, "success") > 1)
            shutil.rmtree(folder)
            await until(lambda: live.last.error is not None and "file not found" in live.last.error)
            folder.mkdir()
            # The OS dropped the old folder's watch: only a new one sees this edit.
            await write_until(path, ROUTES_B, lambda: paths(live) == ["/b"])
            assert not task.done()

    run(scenario)


def test_undoing_a_broken_edit_is_reported_as_a_success(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(ROUTES_A, encoding="utf-8")

    async def scenario() -> None:
        live, registry = live_table(path)
        path.write_text("routes: [\n", encoding="utf-8")
        assert not (await live.reload("watch", only_if_changed=True)).ok
        path.write_text(ROUTES_A, encoding="utf-8")  # back to the table in force
        result = await live.reload("watch", only_if_changed=True)
        assert result.ok and result.entries == 1 and live.last is result
        assert last_successful(registry) == 1 and reloads(registry, "success") == 2
        # Nothing changed since: nothing more is counted.
        assert await live.reload("watch", only_if_changed=True) is result
        assert reloads(registry, "success") == 2

    run(scenario)


def test_a_broken_file_is_reported_once_per_edit_and_its_recovery_too(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(ROUTES_A, encoding="utf-8")

    async def scenario() -> None:
        live, registry = live_table(path)
        with caplog.at_level(logging.INFO, logger="gateway.reload"):
            for edit in ("routes: [\n", "routes: [\n# again\n"):
                path.write_text(edit, encoding="utf-8")
                refused = await live.reload("watch", only_if_changed=True)
                # The watcher checks every ~2 s while the file stays as it is: no new report.
                for _ in range(3):
                    assert await live.reload("watch", only_if_changed=True) is refused
            path.unlink()
            missing = await live.reload("watch", only_if_changed=True)
            assert await live.reload("watch", only_if_changed=True) is missing
            # Asked for by a person (SIGHUP, the admin API): tried and reported again.
            assert not (await live.reload("signal")).ok
            path.write_text(ROUTES_B, encoding="utf-8")
            assert (await live.reload("watch", only_if_changed=True)).ok
        assert reloads(registry, "failure") == 4  # two edits, the removal, the SIGHUP
        messages = [record.getMessage() for record in caplog.records]
        assert sum("rejected" in message for message in messages) == 4, messages
        (recovered,) = [m for m in messages if "valid again" in m]
        assert str(path) in recovered
        assert paths(live) == ["/b"]

    run(scenario)


def test_a_reload_says_what_changed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(
        "routes:\n"
        "  - {path: /a, target: new}\n"
        "  - {path: /b, methods: [GET], target: canary, weight: 10}\n"
        "  - {path: /c, target: new}\n",
        encoding="utf-8",
    )

    async def scenario() -> None:
        live, _ = live_table(path)
        path.write_text(
            "default: legacy\nroutes:\n"
            "  - {path: /a, target: new}\n"
            "  - {path: /b, methods: [GET], target: canary, weight: 50}\n"
            "  - {path: /d, methods: [POST], target: new, timeout: 5}\n",
            encoding="utf-8",
        )
        with caplog.at_level(logging.INFO, logger="gateway.reload"):
            assert (await live.reload("watch", only_if_changed=True)).ok
            path.write_text(path.read_text() + "# a comment\n", encoding="utf-8")
            assert (await live.reload("watch", only_if_changed=True)).ok
        first, second = [r for r in caplog.records if "reloaded" in r.getMessage()]
        assert first.changes == [  # type: ignore[attr-defined]
            "changed GET /b: weight 10.0 -> 50.0",
            'added POST /d -> new {"timeout": 5.0}',
            "removed * /c",
        ]
        assert "3 entries, default legacy; changes:\n  changed GET /b" in first.getMessage()
        assert second.getMessage().endswith("no entry changed")

    run(scenario)


def test_a_broken_file_still_stops_the_start(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_bytes(b"default: legacy\x07\n")
    with pytest.raises(RoutesFileError, match=r"line 1, column 16: .*U\+0007"):
        live_table(path)


# --- over a running gateway -------------------------------------------------------------


def config(server: ServerProcess) -> dict[str, Any]:
    response = httpx.get(
        f"{server.base_url}/_gateway/api/config",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    last: dict[str, Any] = response.json()["last_reload"]
    return last


@pytest.fixture
def routes_file(tmp_path: Path) -> Path:
    path = tmp_path / "routes.yaml"
    path.write_text(ROUTES, encoding="utf-8")
    return path


@pytest.fixture
def gateway(routes_file: Path) -> Iterator[ServerProcess]:
    with run_gateway(routes_file, env={"GATEWAY_ADMIN_TOKEN": TOKEN}) as server:
        yield server


WITHOUT_ADMIN = ROUTES.replace("  - path: /admin\n    target: new\n", "")


def test_a_control_byte_is_a_failed_reload_and_a_later_edit_still_applies(
    gateway: ServerProcess, routes_file: Path
) -> None:
    routes_file.write_bytes(b"default: legacy\x07\n")  # in place, as `printf ... > file` does
    wait_for(lambda: metric(gateway, "gateway_config_reloads_total", result="failure") == 1, 15)
    assert metric(gateway, "gateway_config_last_reload_successful") == 0
    last = config(gateway)
    assert last["ok"] is False and last["trigger"] == "watch"
    assert f"{routes_file}: line 1, column 16: invalid YAML: character U+0007" in last["error"]
    assert side_of(gateway, "/admin") == "new"  # the table in force keeps serving

    write_routes(routes_file, WITHOUT_ADMIN)
    wait_for(lambda: side_of(gateway, "/admin") == "legacy", 15)
    assert config(gateway)["ok"] is True
    assert metric(gateway, "gateway_config_last_reload_successful") == 1
    assert metric(gateway, "gateway_config_reloads_total", result="success") == 2
    assert "Traceback" not in gateway.log()


def test_sighup_reload_reports_a_control_byte_and_applies_a_later_edit(
    routes_file: Path,
) -> None:
    env = {"GATEWAY_ADMIN_TOKEN": TOKEN, "GATEWAY_WATCH_ROUTES": "false"}
    with run_gateway(routes_file, env=env) as server:
        routes_file.write_bytes(b"default: legacy\x07\n")
        os.kill(server.process.pid, signal.SIGHUP)
        wait_for(lambda: metric(server, "gateway_config_reloads_total", result="failure") == 1, 15)
        last = config(server)
        assert last["ok"] is False and last["trigger"] == "signal" and "U+0007" in last["error"]

        write_routes(routes_file, WITHOUT_ADMIN)
        os.kill(server.process.pid, signal.SIGHUP)
        wait_for(lambda: side_of(server, "/admin") == "legacy", 15)
        assert config(server)["ok"] is True and server.process.poll() is None
