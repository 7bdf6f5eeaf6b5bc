"""The bridge under `gateway serve`, spoken to over HTTP: streams, disconnects, overload."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.gateway.test_server import metric
from tests.helpdesk import app_env, seed_database
from tests.servers import ServerProcess, run_gateway

BRIDGE_APPS = "tests.gateway.wsgi.bridge_apps:app"
QUIET = {"GATEWAY_WATCH_ROUTES": "false", "GATEWAY_ACCESS_LOG": "false"}


@pytest.fixture(scope="module")
def routes_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("routes") / "routes.yaml"
    path.write_text("default: legacy\nroutes: []\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def gateway(routes_file: Path) -> Iterator[ServerProcess]:
    with run_gateway(routes_file, legacy_app=BRIDGE_APPS, env=QUIET) as server:
        yield server


def open_stream(port: int, target: bytes, headers: bytes = b"") -> socket.socket:
    """A raw connection that has read the head and first event of a stream, then is left."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: test\r\n" + headers + b"\r\n")
    received = b""
    while b"data:" not in received:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"stream closed before its first event: {received!r}")
        received += chunk
    return sock


def abandon(sock: socket.socket) -> None:
    # RST rather than FIN, as a client killed mid-stream would; either must free the thread.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()


def test_first_chunk_arrives_before_the_generator_ends(gateway: ServerProcess) -> None:
    started = time.monotonic()
    with httpx.stream("GET", gateway.base_url + "/slow-stream?pause=1.5", timeout=10) as response:
        chunks = response.iter_raw()
        first = next(chunks)
        first_at = time.monotonic() - started
        rest = b"".join(chunks)
    assert first == b"first\n"
    assert first_at < 1.0
    assert rest == b"second\n"
    assert time.monotonic() - started >= 1.5


def test_abandoned_streams_are_closed_and_free_their_threads(gateway: ServerProcess) -> None:
    before = httpx.get(gateway.base_url + "/stats", timeout=10).json()
    for _ in range(30):
        abandon(open_stream(gateway.port, b"/endless"))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        stats = httpx.get(gateway.base_url + "/stats", timeout=10).json()
        if stats["closed"] - before["closed"] == 30:
            break
        time.sleep(0.05)
    assert stats["opened"] - before["opened"] == 30
    assert stats["closed"] - before["closed"] == 30  # close() ran: stream_with_context let go
    assert metric(gateway, "gateway_requests_in_progress", side="legacy") == 0


def test_an_error_after_the_response_started_closes_the_connection(
    gateway: ServerProcess,
) -> None:
    with httpx.stream("GET", gateway.base_url + "/fail-mid-stream", timeout=10) as response:
        assert response.status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            response.read()
    assert httpx.get(gateway.base_url + "/quick", timeout=10).status_code == 200


def test_fifty_abandoned_event_streams_leave_the_legacy_app_answering(
    routes_file: Path, tmp_path: Path
) -> None:
    """legacy_app's /api/stream/events sends an event every 0.5 s, forever.

    With a2wsgi each abandoned stream holds one of its threads for good: after as many streams
    as threads, the legacy side stops answering. The bridge stops each one at its next event.
    """
    env = {**app_env(seed_database(tmp_path / "helpdesk.db")), **QUIET}
    with run_gateway(
        routes_file, legacy_app="legacy_app.wsgi:app", env=env, health_path="/health"
    ) as server:
        for _ in range(50):
            abandon(open_stream(server.port, b"/api/stream/events", b"X-Token: admin-token\r\n"))
        started = time.monotonic()
        response = httpx.get(server.base_url + "/health", timeout=10)
        assert response.status_code == 200
        assert time.monotonic() - started < 1.0
        api = httpx.get(server.base_url + "/api/me", headers={"X-Token": "admin-token"})
        assert api.status_code == 200


def test_beyond_threads_and_queue_legacy_requests_get_503(routes_file: Path) -> None:
    env = {**QUIET, "GATEWAY_WSGI_THREADS": "1", "GATEWAY_WSGI_QUEUE_LIMIT": "1"}
    with run_gateway(routes_file, legacy_app=BRIDGE_APPS, env=env) as server:
        answers: list[int] = []
        busy = [
            threading.Thread(
                target=lambda: answers.append(
                    httpx.get(server.base_url + "/block?seconds=1.5", timeout=10).status_code
                )
            )
            for _ in range(2)  # one runs, one waits in the queue
        ]
        for thread in busy:
            thread.start()
        time.sleep(0.5)
        refused = httpx.get(server.base_url + "/quick", timeout=10)
        for thread in busy:
            thread.join()
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        assert refused.headers["x-gateway-side"] == "legacy"
        assert answers == [200, 200]
        assert metric(server, "gateway_wsgi_rejected_total") == 1
        assert httpx.get(server.base_url + "/quick", timeout=10).status_code == 200
