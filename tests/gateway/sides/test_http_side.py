"""Sides served over HTTP: the new side by a uvicorn process at GATEWAY_NEW_URL, the legacy side
by gunicorn at GATEWAY_LEGACY_URL. The gateway runs in-process (over an ASGI transport); the
services are real servers, since a connection refused or a hung socket is what is tested."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from starlette.types import Message

from gateway.dispatcher import Gateway
from gateway.parity import readiness
from gateway.settings import GatewaySettings
from tests.gateway.in_process import serving, settings
from tests.servers import SAMPLE_LEGACY, ServerProcess, bin_path, free_port, run_server
from tests.waiting import eventually

NEW_SERVICE = "tests.gateway.sides.services:new_service"
LEGACY_SERVICE = "tests.gateway.sides.services:legacy_service"
SLACK = 10.0  # a loaded machine's lateness allowed past a timeout, in seconds


@contextmanager
def uvicorn_service() -> Iterator[ServerProcess]:
    port = free_port()
    argv = [bin_path("uvicorn"), NEW_SERVICE, "--port", str(port), "--no-access-log"]
    with run_server(argv, port=port, health_path="/openapi.json") as server:
        yield server


@contextmanager
def gunicorn_service() -> Iterator[ServerProcess]:
    port = free_port()
    argv = [
        bin_path("gunicorn"),
        "--bind",
        f"127.0.0.1:{port}",
        # Sync workers, gunicorn's default: a hung request holds one, the others serve on.
        "--workers",
        "3",
        LEGACY_SERVICE,
    ]
    with run_server(argv, port=port, health_path="/api/things") as server:
        yield server


@pytest.fixture(scope="module")
def new_service() -> Iterator[ServerProcess]:
    with uvicorn_service() as server:
        yield server


@pytest.fixture(scope="module")
def legacy_service() -> Iterator[ServerProcess]:
    with gunicorn_service() as server:
        yield server


def counted(registry: CollectorRegistry, route: str, side: str, status: str) -> float:
    labels = {"route": route, "side": side, "method": "GET", "status": status}
    return registry.get_sample_value("gateway_requests_total", labels) or 0.0


async def streamed(app: Gateway, path: str, gate: Path) -> list[tuple[bytes, bool]]:
    """The body messages of one answer, checking that the first came while the service still
    held the rest back (its gate closed), then opening the gate."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": f"gate={gate}".encode(),
        "root_path": "",
        "headers": [(b"host", b"gateway")],
        "client": ("127.0.0.1", 50000),
        "server": ("gateway", 80),
    }
    bodies: asyncio.Queue[Message] = asyncio.Queue()

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body":
            await bodies.put(message)

    call = asyncio.create_task(app(scope, receive, send))
    first = await asyncio.wait_for(bodies.get(), 30)
    assert not gate.exists()  # the service has not sent the rest: it cannot have
    gate.touch()
    await asyncio.wait_for(call, 30)
    chunks = [first]
    while not bodies.empty():
        chunks.append(bodies.get_nowait())
    return [(m.get("body", b""), bool(m.get("more_body"))) for m in chunks]


# --- the new side at GATEWAY_NEW_URL, served by uvicorn ---------------------------------------

NEW_ROUTES = """\
default: new
routes:
  - {path: "/api/items/{item_id}", target: new}
  - {path: /hang, target: new, timeout: 0.5}
  - {path: "/compare/{case}", target: new, fallback: legacy}
"""


def new_settings(tmp_path: Path, url: str, routes: str = NEW_ROUTES, **values: Any) -> Any:
    return settings(tmp_path, routes, new_app="", new_url=url, **values)


def test_routed_requests_are_answered_with_template_labels(
    tmp_path: Path, new_service: ServerProcess
) -> None:
    registry = CollectorRegistry()

    async def run() -> tuple[httpx.Response, httpx.Response]:
        async with serving(new_settings(tmp_path, new_service.base_url), registry) as (_, c):
            item = await c.get("/api/items/7")
            # By the table's default: labelled with the service's template from its OpenAPI.
            things = await c.get(
                "/api/things", headers={"connection": "x-hop", "x-hop": "1", "x-request-id": "r1"}
            )
            return item, things

    item, things = asyncio.run(run())
    assert item.status_code == 200 and item.json()["view"] == "item"
    assert item.headers["x-gateway-side"] == "new"
    assert item.json()["request_id"] == item.headers["x-request-id"]
    answer = things.json()
    assert answer["request_id"] == "r1"
    assert answer["connection_named"] is None  # named in Connection: hop-by-hop, dropped
    assert answer["forwarded_for"] == "127.0.0.1"
    assert answer["forwarded"].startswith("for=127.0.0.1;proto=http")
    assert answer["host"] == "gateway"  # the client's Host, as an in-process side sees it
    assert counted(registry, "/api/items/{item_id}", "new", "200") == 1
    assert counted(registry, "/api/things", "new", "200") == 1
    in_use = {"side": "new", "state": "in_use"}
    assert registry.get_sample_value("gateway_http_side_connections", in_use) == 0


def test_a_hung_endpoint_is_a_504_at_the_entrys_timeout(
    tmp_path: Path, new_service: ServerProcess
) -> None:
    gate = tmp_path / "gate"

    async def run() -> tuple[httpx.Response, float]:
        async with serving(new_settings(tmp_path, new_service.base_url), CollectorRegistry()) as (
            _,
            client,
        ):
            started = time.monotonic()
            response = await client.get("/hang", params={"gate": str(gate)})
            return response, time.monotonic() - started

    try:
        response, took = asyncio.run(run())
    finally:
        gate.touch()
    assert response.status_code == 504
    assert response.json()["error"] == "timeout"
    assert 0.5 <= took < 0.5 + SLACK


def test_streamed_answers_come_chunk_by_chunk(tmp_path: Path, new_service: ServerProcess) -> None:
    async def run() -> list[tuple[bytes, bool]]:
        async with serving(new_settings(tmp_path, new_service.base_url), CollectorRegistry()) as (
            app,
            _,
        ):
            return await streamed(app, "/stream", tmp_path / "gate")

    chunks = asyncio.run(run())
    assert chunks[0] == (b"first\n", True)
    assert b"".join(body for body, _ in chunks) == b"first\nsecond\n"


def test_request_bodies_are_forwarded(tmp_path: Path, new_service: ServerProcess) -> None:
    body = b"0123456789abcdef" * 4096

    async def pieces() -> Any:
        for start in range(0, len(body), 8192):
            yield body[start : start + 8192]

    async def run() -> tuple[httpx.Response, httpx.Response]:
        async with serving(new_settings(tmp_path, new_service.base_url), CollectorRegistry()) as (
            _,
            client,
        ):
            whole = await client.post("/api/echo", content=body)
            chunked = await client.post("/api/echo", content=pieces())
            return whole, chunked

    for response in asyncio.run(run()):
        assert response.status_code == 200
        assert response.json() == {"app": "new", "size": len(body), "head": "0123456789abcdef"}


def test_request_bodies_stream_to_the_service(tmp_path: Path, new_service: ServerProcess) -> None:
    """The body's second piece is sent only once the service has the first: a gateway that
    waited for the whole body before calling the service would never see it."""
    mark = tmp_path / "first-piece-came"

    async def body() -> Any:
        yield b"a" * 1000
        await eventually(mark.exists, what="the service reading the first piece")
        yield b"b" * 1000

    async def run() -> httpx.Response:
        async with serving(new_settings(tmp_path, new_service.base_url), CollectorRegistry()) as (
            _,
            client,
        ):
            return await client.post("/api/upload", params={"mark": str(mark)}, content=body())

    response = asyncio.run(run())
    assert response.status_code == 200 and response.json()["size"] == 2000


def test_a_stopped_service_is_a_502_and_legacy_answers_with_fallback(tmp_path: Path) -> None:
    registry = CollectorRegistry()

    def connect_errors() -> float:
        labels = {"side": "new", "error": "connect"}
        return registry.get_sample_value("gateway_http_side_connection_errors_total", labels) or 0

    async def run(service: ServerProcess) -> dict[str, Any]:
        async with serving(new_settings(tmp_path, service.base_url), registry) as (_, client):
            assert (await client.get("/api/things")).status_code == 200
            service.stop()
            things = await client.get("/api/things")
            tried = connect_errors()
            posted = await client.post("/api/echo", content=b"once")
            posted_tries = connect_errors() - tried
            compare = await client.get("/compare/same")
            health = await client.get("/_gateway/health")
            return {
                "things": things,
                "posted": posted,
                "posted_tries": posted_tries,
                "compare": compare,
                "health": health,
            }

    with uvicorn_service() as service:
        got = asyncio.run(run(service))
    assert got["things"].status_code == 502
    assert got["things"].json()["error"] == "bad_gateway"
    assert got["posted"].status_code == 502
    assert got["posted_tries"] == 1  # an unsafe method is never sent twice
    assert got["compare"].status_code == 200
    assert got["compare"].headers["x-gateway-side"] == "legacy"  # the fallback's answer
    health = got["health"]
    assert health.status_code == 200 and health.json()["status"] == "degraded"
    assert "the new side (over HTTP) does not answer" in health.json()["sides"][0]
    errors = registry.get_sample_value(
        "gateway_http_side_connection_errors_total", {"side": "new", "error": "connect"}
    )
    assert errors is not None and errors >= 2  # a GET is sent once more, once
    assert (
        registry.get_sample_value(
            "gateway_fallbacks_total", {"route": "/compare/{case}", "reason": "bad_gateway"}
        )
        == 1
    )


def test_requests_beyond_the_pool_wait_for_a_connection(
    tmp_path: Path, new_service: ServerProcess
) -> None:
    registry = CollectorRegistry()
    gate = tmp_path / "gate"

    def connections(state: str) -> float | None:
        labels = {"side": "new", "state": state}
        return registry.get_sample_value("gateway_http_side_connections", labels)

    async def run() -> tuple[httpx.Response, httpx.Response]:
        values = new_settings(tmp_path, new_service.base_url, http_pool_size=1)
        async with serving(values, registry) as (_, client):
            streaming = asyncio.create_task(client.get("/stream", params={"gate": str(gate)}))
            await eventually(lambda: connections("in_use") == 1, what="the stream's connection")
            waiting = asyncio.create_task(client.get("/api/things"))
            await eventually(lambda: connections("waiting") == 1, what="a request waiting")
            gate.touch()
            return await streaming, await waiting

    try:
        streamed_answer, waited = asyncio.run(run())
    finally:
        gate.touch()
    assert streamed_answer.text == "first\nsecond\n"
    assert waited.status_code == 200
    assert connections("in_use") == 0 and connections("waiting") == 0


def test_without_its_openapi_document_the_gateway_serves(tmp_path: Path) -> None:
    """A service down at start: no document, no check of the entries, the rest still served."""
    registry = CollectorRegistry()
    closed = f"http://127.0.0.1:{free_port()}"

    async def run() -> tuple[httpx.Response, httpx.Response]:
        routes = "default: legacy\nroutes:\n  - {path: /api/things, target: new}\n"
        async with serving(new_settings(tmp_path, closed, routes), registry) as (_, client):
            return await client.get("/api/items/1"), await client.get("/api/things")

    legacy, new = asyncio.run(run())
    assert legacy.status_code == 200 and legacy.headers["x-gateway-side"] == "legacy"
    assert new.status_code == 502
    assert counted(registry, "/api/things", "new", "502") == 1  # the table's template


def test_a_shadowed_route_compares_in_process_legacy_with_the_http_new_side(
    tmp_path: Path, new_service: ServerProcess
) -> None:
    registry = CollectorRegistry()
    routes = 'routes:\n  - {path: "/compare/{case}", target: legacy, shadow: {noise_sample: 0}}\n'
    values = new_settings(
        tmp_path, new_service.base_url, routes, ledger=True, data_dir=tmp_path / "data"
    )

    def comparisons(outcome: str) -> float:
        labels = {"route": "/compare/{case}", "outcome": outcome, "primary": "legacy"}
        return registry.get_sample_value("gateway_shadow_comparisons_total", labels) or 0.0

    async def run() -> None:
        async with serving(values, registry) as (_, client):
            for case in ("same", "differ"):
                response = await client.get(f"/compare/{case}")
                assert response.headers["x-gateway-side"] == "legacy"
            await eventually(lambda: comparisons("mismatch") == 2, what="both copies compared")

    asyncio.run(run())
    (route,) = readiness.read(values.ledger_location, route="/compare/{case}")
    assert route.compared == 2 and route.mismatched == 2
    fields = {field for difference in route.differences for field in difference.fields}
    assert "body:$.value" in fields  # legacy's 1, the service's 2


# --- the legacy side at GATEWAY_LEGACY_URL, served by gunicorn --------------------------------

LEGACY_ROUTES = "default: legacy\nroutes: []\n"


def legacy_settings(tmp_path: Path, url: str, **values: Any) -> Any:
    return settings(tmp_path, LEGACY_ROUTES, legacy_app=LEGACY_SERVICE, legacy_url=url, **values)


def test_legacy_over_http_is_served_with_its_code_s_labels(
    tmp_path: Path, legacy_service: ServerProcess
) -> None:
    registry = CollectorRegistry()

    async def run() -> httpx.Response:
        async with serving(legacy_settings(tmp_path, legacy_service.base_url), registry) as (
            _,
            client,
        ):
            return await client.get("/api/items/3")

    response = asyncio.run(run())
    assert response.status_code == 200
    assert response.json()["app"] == "legacy"
    assert response.json()["request_id"] == response.headers["x-request-id"]
    assert "server" not in response.headers  # the gateway's server writes its own
    # Labelled by the legacy app's own router, read from its code (never served in-process).
    assert counted(registry, "/api/items/{item_id:int}", "legacy", "200") == 1


def test_legacy_over_http_hung_and_streaming(tmp_path: Path, legacy_service: ServerProcess) -> None:
    gate = tmp_path / "hang-gate"

    async def run() -> tuple[httpx.Response, float, list[tuple[bytes, bool]]]:
        values = legacy_settings(tmp_path, legacy_service.base_url, wsgi_timeout=0.5)
        async with serving(values, CollectorRegistry()) as (app, client):
            started = time.monotonic()
            hung = await client.get("/hang", params={"gate": str(gate)})
            took = time.monotonic() - started
            chunks = await streamed(app, "/stream", tmp_path / "stream-gate")
            return hung, took, chunks

    try:
        hung, took, chunks = asyncio.run(run())
    finally:
        gate.touch()
    assert hung.status_code == 504 and 0.5 <= took < 0.5 + SLACK
    assert chunks[0] == (b"first\n", True)
    assert b"".join(body for body, _ in chunks) == b"first\nsecond\n"


def test_legacy_service_stopped_is_a_502(tmp_path: Path) -> None:
    async def run(service: ServerProcess) -> httpx.Response:
        async with serving(legacy_settings(tmp_path, service.base_url), CollectorRegistry()) as (
            _,
            client,
        ):
            assert (await client.get("/api/things")).status_code == 200
            service.stop()
            return await client.get("/api/things")

    with gunicorn_service() as service:
        response = asyncio.run(run(service))
    assert response.status_code == 502
    assert response.json()["error"] == "bad_gateway"


def test_a_new_url_beside_a_new_app_is_a_settings_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="GATEWAY_NEW_URL and GATEWAY_NEW_APP are both set"):
        GatewaySettings(new_url="http://127.0.0.1:1", new_app="new_app.main:app")
    # The default new app does not count: only one given beside the URL does.
    assert GatewaySettings(new_url="http://127.0.0.1:1").new_url == "http://127.0.0.1:1"


def test_commands_list_the_endpoints_of_sides_over_http(
    tmp_path: Path, new_service: ServerProcess, legacy_service: ServerProcess
) -> None:
    import os
    import subprocess

    routes = tmp_path / "routes.yaml"
    routes.write_text("default: new\nroutes: []\n", encoding="utf-8")

    def gateway(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        full = {**os.environ, "GATEWAY_ROUTES_FILE": str(routes), **env}
        return subprocess.run(
            [bin_path("gateway"), *args], env=full, capture_output=True, text=True, timeout=60
        )

    new = {
        "GATEWAY_NEW_URL": new_service.base_url,
        "GATEWAY_NEW_APP": "",
        "GATEWAY_LEGACY_APP": SAMPLE_LEGACY,
    }
    listed = gateway("routes", **new)
    assert listed.returncode == 0, listed.stderr
    assert any(
        line.startswith("new") and "/api/things" in line for line in listed.stdout.splitlines()
    )
    assert gateway("check", **new).stdout.endswith("ok\n")
    # An entry sent to the service for a path its document does not list is an error.
    routes.write_text("routes:\n  - {path: /nowhere, target: new}\n", encoding="utf-8")
    refused = gateway("check", **new)
    assert refused.returncode == 1 and "/nowhere" in refused.stderr
    routes.write_text("default: new\nroutes: []\n", encoding="utf-8")
    document = json.loads(gateway("openapi", **new).stdout)
    assert document["paths"]["/api/things"]["get"]["x-gateway-side"] == "new"

    legacy = {
        "GATEWAY_LEGACY_URL": legacy_service.base_url,
        "GATEWAY_LEGACY_APP": LEGACY_SERVICE,
        "GATEWAY_NEW_URL": new_service.base_url,
        "GATEWAY_NEW_APP": "",
    }
    listed = gateway("routes", **legacy)
    assert listed.returncode == 0, listed.stderr
    assert any(
        line.startswith("legacy") and "/api/items/{item_id:int}" in line
        for line in listed.stdout.splitlines()
    )
    alone = {key: value for key, value in legacy.items() if key != "GATEWAY_LEGACY_APP"}
    skipped = gateway("inventory", **alone)
    assert "is skipped" in skipped.stderr
