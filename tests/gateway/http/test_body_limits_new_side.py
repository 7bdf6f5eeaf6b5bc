"""GATEWAY_MAX_BODY and GATEWAY_BODY_TIMEOUT hold for the new side as for the legacy one."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import ServerProcess, run_gateway

ROUTES = "default: legacy\nroutes:\n  - {path: /echo, target: new}\n"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    routes_file: Path = tmp_path_factory.mktemp("bodies") / "routes.yaml"
    routes_file.write_text(ROUTES, encoding="utf-8")
    env = {"GATEWAY_MAX_BODY": "100", "GATEWAY_BODY_TIMEOUT": "1"}
    with run_gateway(routes_file, env=env) as server:
        yield server


def test_a_body_within_the_limit_reaches_the_new_side(gateway: ServerProcess) -> None:
    response = httpx.post(gateway.base_url + "/echo", content=b"x" * 100)
    assert response.status_code == 200 and response.json() == {"app": "new", "size": 100}


def test_a_declared_body_over_the_limit_is_refused_at_once(gateway: ServerProcess) -> None:
    response = httpx.post(gateway.base_url + "/echo", content=b"x" * 101)
    assert response.status_code == 413
    assert response.json()["error"] == "body_too_large"
    assert response.headers["x-gateway-side"] == "gateway"


def test_a_streamed_body_over_the_limit_is_refused(gateway: ServerProcess) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(5):
            yield b"x" * 40  # chunked: no Content-Length says how much comes

    response = httpx.post(gateway.base_url + "/echo", content=chunks())
    assert response.status_code == 413
    assert "passed 100 bytes" in response.json()["detail"]


def test_a_stalled_body_is_answered_408(gateway: ServerProcess) -> None:
    head = (
        b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Length: 50\r\n\r\nxxxx"
    )
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=30) as sock:
        started = time.monotonic()
        sock.sendall(head)  # then nothing more
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        elapsed = time.monotonic() - started
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split()[1] == b"408"
    body = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert body["error"] == "body_timeout"
    assert elapsed < 20  # its idle timeout is 1 s; the client was not kept for its own
