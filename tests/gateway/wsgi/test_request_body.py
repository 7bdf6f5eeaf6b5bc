"""Request bodies through the bridge: read ahead on the loop, streamed beyond, and limited."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import pytest
from starlette.types import Message

from gateway.http.body_limits import BodyLimits
from gateway.http.responses import Refused
from gateway.wsgi import BridgeLimits, WSGIBridge
from gateway.wsgi.request_body import BodyRefused
from tests.gateway.wsgi.asgi_driver import drive, http_scope
from tests.waiting import eventually

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

CHUNKED = [(b"transfer-encoding", b"chunked")]


class Echo:
    """Answers `/quick` at once, anything else with the request body it read (or the error)."""

    def __init__(self) -> None:
        self.calls = 0
        self.errors: list[OSError] = []

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        self.calls += 1
        if environ["PATH_INFO"] == "/quick":
            start_response("200 OK", [("Content-Length", "2")])
            return [b"ok"]
        try:
            data = environ["wsgi.input"].read()
        except OSError as exc:
            self.errors.append(exc)
            data = b"read failed"
        start_response("200 OK", [("Content-Length", str(len(data)))])
        return [data]


class SlowClient:
    """A body sent piece by piece: the next piece only once `step` is set (or never)."""

    def __init__(self, pieces: Sequence[bytes], stall_after: int | None = None) -> None:
        self.pieces = list(pieces)
        self.sent = 0
        self.stall_after = stall_after  # pieces sent before the client stops for good
        self.step = asyncio.Event()
        self.done = asyncio.Event()
        self.answer = b""

    async def receive(self) -> Message:
        if not self.pieces:
            await self.done.wait()
            return {"type": "http.disconnect"}
        if self.sent and self.sent == self.stall_after:
            await asyncio.Event().wait()  # nothing more, ever
        if self.sent:
            await self.step.wait()
            self.step.clear()
        self.sent += 1
        piece = self.pieces.pop(0)
        return {"type": "http.request", "body": piece, "more_body": bool(self.pieces)}

    async def send(self, message: Message) -> None:
        self.answer += message.get("body", b"")
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            self.done.set()


def post(headers: Sequence[tuple[bytes, bytes]] = CHUNKED) -> dict[str, Any]:
    return http_scope("POST", "/echo", headers=headers)


def test_a_slow_body_up_to_the_buffer_holds_no_thread() -> None:
    app = Echo()

    async def main() -> bytes:
        bridge = WSGIBridge(app, BridgeLimits(threads=1))
        client = SlowClient([b"one ", b"two ", b"three"])
        upload = asyncio.create_task(bridge(post(), client.receive, client.send))
        await asyncio.sleep(0)  # the upload task runs until it waits for the client
        assert client.sent == 1
        # The upload is under way, and the only thread is free for another call meanwhile.
        quick = await asyncio.wait_for(drive(bridge, http_scope(path="/quick")), 10)
        assert (quick.body, app.calls) == (b"ok", 1)
        stepping = asyncio.create_task(keep_stepping(client))
        await asyncio.wait_for(upload, 10)
        stepping.cancel()
        return client.answer

    assert asyncio.run(main()) == b"one two three"


def test_a_body_that_stalls_before_the_call_is_refused_408_and_never_runs() -> None:
    app = Echo()

    async def main() -> None:
        bridge = WSGIBridge(app, BridgeLimits(threads=1, body_limits=BodyLimits(idle_timeout=0.1)))
        client = SlowClient([b"abc", b"never sent"], stall_after=1)
        with pytest.raises(Refused, match="408 body_timeout"):
            await bridge(post(), client.receive, client.send)

    asyncio.run(main())
    assert app.calls == 0


def test_a_streamed_body_that_stalls_is_refused_408_and_the_app_read_fails() -> None:
    app = Echo()

    async def main() -> None:
        limits = BodyLimits(idle_timeout=0.1)
        bridge = WSGIBridge(app, BridgeLimits(threads=1, body_buffer=2, body_limits=limits))
        client = SlowClient([b"abc", b"never sent"], stall_after=1)
        with pytest.raises(Refused, match="408 body_timeout"):
            await bridge(post(), client.receive, client.send)
        await eventually(lambda: bridge.admitted == 0)  # the app's read failed, it returned

    asyncio.run(main())
    assert app.calls == 1
    assert [type(error) for error in app.errors] == [BodyRefused]


def test_a_streamed_body_that_trickles_is_refused_408_and_frees_the_thread() -> None:
    """Past the read-ahead buffer the app's thread waits for the body: a client sending a few
    bytes now and then, never idle for the idle timeout, must not hold it for ever."""
    app = Echo()

    async def main() -> None:
        limits = BodyLimits(idle_timeout=0.3, min_rate=1000)
        bridge = WSGIBridge(app, BridgeLimits(threads=1, body_buffer=2, body_limits=limits))
        client = SlowClient([b"abc"] * 10_000)

        async def trickle() -> None:
            while True:
                await asyncio.sleep(0.05)
                client.step.set()

        sender = asyncio.create_task(trickle())
        try:
            with pytest.raises(Refused, match="408 body_timeout: the request body arrived at less"):
                await bridge(post(), client.receive, client.send)
            await eventually(lambda: bridge.admitted == 0)  # the app's read failed, it returned
        finally:
            sender.cancel()

    asyncio.run(main())
    assert app.calls == 1
    assert [type(error) for error in app.errors] == [BodyRefused]


def test_a_declared_body_beyond_the_maximum_is_refused_413_at_once() -> None:
    app = Echo()
    client = SlowClient([b"x" * 100])

    async def main() -> None:
        bridge = WSGIBridge(app, BridgeLimits(threads=1, body_limits=BodyLimits(max_size=10)))
        with pytest.raises(Refused, match="413 body_too_large: the request declares 100 bytes"):
            await bridge(post([(b"content-length", b"100")]), client.receive, client.send)

    asyncio.run(main())
    assert (app.calls, client.sent) == (0, 0)


@pytest.mark.parametrize(
    "body_buffer, calls",
    [pytest.param(64 * 1024, 0, id="read-ahead"), pytest.param(4, 1, id="streamed")],
)
def test_a_streamed_body_beyond_the_maximum_is_refused_413(body_buffer: int, calls: int) -> None:
    app = Echo()

    async def main() -> None:
        limits = BodyLimits(max_size=10)
        bridge = WSGIBridge(
            app, BridgeLimits(threads=1, body_buffer=body_buffer, body_limits=limits)
        )
        client = SlowClient([b"abcd", b"efgh", b"ijkl"])
        client.step.set()
        stepping = asyncio.create_task(keep_stepping(client))
        try:
            with pytest.raises(Refused, match="413 body_too_large"):
                await bridge(post(), client.receive, client.send)
        finally:
            stepping.cancel()
        await eventually(lambda: bridge.admitted == 0)

    asyncio.run(main())
    assert app.calls == calls


async def keep_stepping(client: SlowClient) -> None:
    while True:
        client.step.set()
        await asyncio.sleep(0.005)


@pytest.mark.parametrize(
    "headers", [pytest.param([], id="no-body"), pytest.param(CHUNKED, id="chunked")]
)
def test_a_client_gone_before_the_first_message_runs_nothing(
    headers: list[tuple[bytes, bytes]],
) -> None:
    app = Echo()
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(WSGIBridge(app, BridgeLimits(threads=1))(post(headers), receive, send))
    assert (app.calls, sent) == (0, [])


def test_a_client_leaving_during_the_read_ahead_runs_nothing() -> None:
    app = Echo()
    sent: list[Message] = []

    async def receive() -> Message:
        if not sent:
            sent.append({"type": "marker"})
            return {"type": "http.request", "body": b"part", "more_body": True}
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(WSGIBridge(app, BridgeLimits(threads=1))(post(), receive, send))
    assert app.calls == 0
    assert sent == [{"type": "marker"}]  # nothing was answered


def test_a_body_beyond_the_buffer_streams_to_the_app() -> None:
    started = threading.Event()
    pieces = [b"a" * 40_000, b"b" * 40_000, b"c" * 40_000]

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        started.set()
        data = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Length", str(len(data)))])
        return [data]

    async def main() -> bytes:
        bridge = WSGIBridge(
            app, BridgeLimits(threads=1)
        )  # 64 KiB ahead: the call starts after two pieces
        client = SlowClient(pieces)
        upload = asyncio.create_task(bridge(post(), client.receive, client.send))
        client.step.set()
        await asyncio.wait_for(asyncio.to_thread(started.wait, 10), 10)
        assert client.pieces == [b"c" * 40_000]  # the app runs, the last piece not sent yet
        client.step.set()
        await asyncio.wait_for(upload, 10)
        return client.answer

    assert asyncio.run(main()) == b"".join(pieces)
