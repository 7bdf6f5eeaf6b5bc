"""`gateway serve`, one process and workers: the request head's bounds from the settings."""

from __future__ import annotations

import selectors
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.servers import ServerProcess, raw_request, run_gateway

HEADER_TIMEOUT = 2.0
ROUTES = "default: legacy\nroutes:\n  - path: /api/items\n    target: new\n"


def serve(tmp_path: Path, workers: int) -> Iterator[ServerProcess]:
    routes = tmp_path / "routes.yaml"
    routes.write_text(ROUTES, encoding="utf-8")
    env = {"GATEWAY_HEADER_TIMEOUT": str(HEADER_TIMEOUT), "GATEWAY_ACCESS_LOG": "false"}
    with run_gateway(routes, workers=workers, env=env) as server:
        yield server


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from serve(tmp_path_factory.mktemp("one"), workers=1)


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from serve(tmp_path_factory.mktemp("workers"), workers=2)


@dataclass
class Connection:
    sock: socket.socket
    talking: bool  # sends a byte of its head every 0.5 s; else nothing at all
    received: bytes = b""


def trickle(port: int, *, talking: int, silent: int, deadline: float) -> dict[str, list[float]]:
    """Open `talking` connections that send a head a byte every 0.5 s, and `silent` ones that
    send nothing; seconds until the server closed each, by what it said (408, or nothing)."""
    selector = selectors.DefaultSelector()
    start = time.monotonic()
    for index in range(talking + silent):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.setblocking(False)
        if index < talking:
            sock.sendall(b"GET /api/items HTTP/1.1\r\nHost: t\r\nX-Slow: ")
        selector.register(sock, selectors.EVENT_READ, data=Connection(sock, index < talking))
    closed: dict[str, list[float]] = {"408": [], "nothing": [], "other": []}
    next_byte = start + 0.5
    while selector.get_map() and time.monotonic() - start < deadline:
        for key, _ in selector.select(timeout=0.1):
            connection: Connection = key.data
            try:
                chunk = connection.sock.recv(65536)
            except ConnectionError:
                chunk = b""
            connection.received += chunk
            if not chunk:
                answer = connection.received[:12]
                kind = "408" if answer == b"HTTP/1.1 408" else "nothing" if not answer else "other"
                closed[kind].append(time.monotonic() - start)
                selector.unregister(connection.sock)
                connection.sock.close()
        if time.monotonic() >= next_byte:
            next_byte += 0.5
            for key in list(selector.get_map().values()):
                if key.data.talking:
                    try:
                        key.data.sock.send(b"x")
                    except (BlockingIOError, ConnectionError):
                        pass
    left = [key.data for key in selector.get_map().values()]
    for connection in left:
        connection.sock.close()
    closed["still open"] = [float(len(left))] if left else []
    return closed


def test_a_64_kb_header_is_answered_431(gateway: ServerProcess) -> None:
    status, headers, _ = raw_request(
        gateway.port, b"/api/items", headers=[b"X-Big: " + b"a" * 65536]
    )
    assert status == 431
    assert headers["connection"] == "close"


def test_a_header_under_the_default_limit_is_served(gateway: ServerProcess) -> None:
    status, _, _ = raw_request(gateway.port, b"/api/items", headers=[b"X-Big: " + b"a" * 30_000])
    assert status == 200


def test_trickling_connections_are_closed_at_the_header_timeout(gateway: ServerProcess) -> None:
    # Generous: a loaded machine may be slow to schedule the server, never early.
    closed = trickle(gateway.port, talking=200, silent=50, deadline=HEADER_TIMEOUT + 30)
    assert not closed["still open"] and not closed["other"]
    assert len(closed["408"]) == 200  # a client that sent part of a request hears why
    assert len(closed["nothing"]) == 50  # an idle one is closed as keep-alive ones are
    times = closed["408"] + closed["nothing"]
    assert HEADER_TIMEOUT * 0.9 <= min(times) <= max(times) < HEADER_TIMEOUT + 15
    # A normal client is served meanwhile and after.
    response = httpx.get(gateway.base_url + "/api/items", timeout=10)
    assert response.status_code == 200


def test_workers_bound_the_head_as_one_process_does(workers: ServerProcess) -> None:
    status, _, _ = raw_request(workers.port, b"/api/items", headers=[b"X-Big: " + b"a" * 65536])
    assert status == 431
    closed = trickle(workers.port, talking=10, silent=5, deadline=HEADER_TIMEOUT + 30)
    assert (len(closed["408"]), len(closed["nothing"])) == (10, 5)
    assert min(closed["408"] + closed["nothing"]) >= HEADER_TIMEOUT * 0.9
