"""The bounded HTTP protocols in a real uvicorn server, over real sockets, for both parsers."""

from __future__ import annotations

import asyncio
import pickle
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send
from websockets.sync.client import connect as ws_connect

from gateway.server.head import HeadLimits
from gateway.server.protocols import PROTOCOLS, HttpName, http_protocol
from tests.servers import free_port
from tests.waiting import wait_for

LIMIT = 8 * 1024
TIMEOUT = 1.0


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        message = await receive()
        await send({"type": "websocket.send", "text": message.get("text", "")})
        return
    if scope["type"] != "http":
        return
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    if scope["path"] == "/slow":
        await asyncio.sleep(TIMEOUT * 2)  # longer than a head may take
    body = f"{scope['path']} {size}".encode()
    length = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": length})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(params=list(PROTOCOLS))
def port(request: pytest.FixtureRequest) -> Iterator[int]:
    name: HttpName = request.param
    chosen = free_port()
    config = uvicorn.Config(
        app,
        port=chosen,
        http=http_protocol(name, HeadLimits(LIMIT, TIMEOUT)),
        lifespan="off",
        log_level="warning",
        timeout_keep_alive=30,  # longer than the head's timeout: the head's is tested
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, what="the server started")
    yield chosen
    server.should_exit = True
    thread.join(30)


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=30)


def read_until_closed(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def read_answers(sock: socket.socket, count: int = 1) -> list[bytes]:
    """`count` answers of the app above (which keeps the connection open): each one's body."""
    data = b""
    bodies: list[bytes] = []
    while len(bodies) < count:
        head, separator, rest = data.partition(b"\r\n\r\n")
        if separator:
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            if len(rest) >= length:
                bodies.append(rest[:length])
                data = rest[length:]
                continue
        chunk = sock.recv(65536)
        assert chunk, f"closed after {len(bodies)} answers: {data[:200]!r}"
        data += chunk
    return bodies


def request(path: str, *headers: bytes, body: bytes = b"") -> bytes:
    lines = [f"POST {path} HTTP/1.1".encode(), b"Host: t", *headers]
    lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param([b"X-Big: " + b"a" * (LIMIT + 1)], id="one-field"),
        pytest.param([b"X-%d: %s" % (i, b"b" * 90) for i in range(LIMIT // 90)], id="many"),
        pytest.param([b"X-Big: " + b"a" * (1 << 20)], id="a-megabyte"),
    ],
)
def test_a_head_over_the_limit_is_answered_431_and_closed(port: int, headers: list[bytes]) -> None:
    with connect(port) as sock:
        sock.sendall(request("/", *headers))
        answer = read_until_closed(sock)
    assert status(answer) == 431
    assert b"connection: close" in answer


def test_a_target_over_the_limit_is_answered_431(port: int) -> None:
    with connect(port) as sock:
        sock.sendall(request("/" + "a" * LIMIT))
        assert status(read_until_closed(sock)) == 431


def test_a_head_within_the_limit_and_a_larger_body_in_the_same_send_are_served(
    port: int,
) -> None:
    # The body, and the next request pipelined behind it, are no part of the head.
    head_field = b"X-Fill: " + b"c" * (LIMIT - 200)
    body = b"d" * (4 * LIMIT)
    with connect(port) as sock:
        sock.sendall(request("/one", head_field, body=body) + request("/two", head_field))
        assert read_answers(sock, 2) == [b"/one %d" % len(body), b"/two 0"]


def test_a_head_sent_a_byte_at_a_time_within_the_limit_is_served(port: int) -> None:
    with connect(port) as sock:
        for byte in request("/", b"X-A: " + b"e" * 200):
            sock.send(bytes([byte]))
        assert read_answers(sock) == [b"/ 0"]


def test_a_trickled_head_is_answered_408_at_its_deadline(port: int) -> None:
    with connect(port) as sock:
        start = time.monotonic()
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n")
        sock.settimeout(0.1)
        answer = b""
        for _ in range(int(30 / 0.1)):  # a byte every 0.1 s, until the server closes
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                sock.send(b"x")
                continue
            if not chunk:
                break
            answer += chunk
        elapsed = time.monotonic() - start
    assert status(answer) == 408
    assert TIMEOUT * 0.9 <= elapsed < TIMEOUT + 10


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(port: int) -> None:
    with connect(port) as sock:
        start = time.monotonic()
        assert read_until_closed(sock) == b""
    assert TIMEOUT * 0.9 <= time.monotonic() - start < TIMEOUT + 10


def test_on_keep_alive_the_clock_starts_at_the_previous_answer(port: int) -> None:
    with connect(port) as sock:
        sock.sendall(request("/first"))
        read_answers(sock)
        answered = time.monotonic()
        time.sleep(TIMEOUT / 2)  # idle, then a head that never completes
        sock.sendall(b"GET /second HTTP/1.1\r\n")
        answer = read_until_closed(sock)
        elapsed = time.monotonic() - answered
    assert status(answer) == 408
    assert TIMEOUT * 0.9 <= elapsed < TIMEOUT / 2 + TIMEOUT * 0.9  # not a full timeout more


def test_a_keep_alive_connection_may_serve_for_longer_than_the_timeout(port: int) -> None:
    with connect(port) as sock:
        start = time.monotonic()
        served = 0
        while time.monotonic() - start < TIMEOUT * 2.5:
            sock.sendall(request("/again"))
            assert read_answers(sock) == [b"/again 0"]
            served += 1
            time.sleep(TIMEOUT / 5)
    assert served >= 5


def test_a_request_in_flight_longer_than_the_timeout_is_answered(port: int) -> None:
    with connect(port) as sock:
        sock.sendall(request("/slow"))
        assert read_answers(sock) == [b"/slow 0"]


def test_a_websocket_open_longer_than_the_timeout_is_left_alone(port: int) -> None:
    # The head's timer outlives the upgrade; the connection is the WebSocket protocol's then.
    with ws_connect(f"ws://127.0.0.1:{port}/ws", open_timeout=30) as websocket:
        time.sleep(TIMEOUT * 1.5)
        websocket.send("still here")
        assert websocket.recv(timeout=30) == "still here"


def test_a_protocol_class_survives_pickling_into_another_process() -> None:
    # uvicorn's --reload pickles its config, protocol class included, for its child process.
    built = http_protocol("h11", HeadLimits(4096, 2.5))
    assert pickle.loads(pickle.dumps(built)) is built
    script = "import pickle, sys; c = pickle.load(sys.stdin.buffer); print(c.limits, c.max_head)"
    done = subprocess.run(
        [sys.executable, "-c", script], input=pickle.dumps(built), capture_output=True, check=True
    )
    assert done.stdout.decode().strip() == "HeadLimits(max_bytes=4096, timeout=2.5) 4096"
