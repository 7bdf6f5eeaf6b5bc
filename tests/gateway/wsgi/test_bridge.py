"""The WSGI bridge driven in-process, one ASGI request at a time (real servers: test_server.py)."""

from __future__ import annotations

import asyncio
import contextvars
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
from starlette.types import Message

from gateway.http.responses import Refused
from gateway.wsgi import BridgeLimits, WSGIBridge
from gateway.wsgi.bridge import STREAM_LIMIT
from gateway.wsgi.pool import PoolClosed
from gateway.wsgi.request_body import ClientDisconnected
from gateway.wsgi.response import InvalidResponse
from tests.gateway.wsgi.asgi_driver import Exchange, Seen, drive, http_scope
from tests.waiting import eventually

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

TEXT = [("Content-Type", "text/plain")]


def hello(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [*TEXT, ("Content-Length", "5")])
    return [b"hello"]


def serve(app: WSGIApplication, observer: Seen | None = None, **limits: Any) -> WSGIBridge:
    limits.setdefault("threads", 2)
    return WSGIBridge(app, BridgeLimits(**limits), observer)


class Closing:
    """A response iterable that records whether the server called close()."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.chunks = iter(chunks)
        self.closed = threading.Event()

    def __iter__(self) -> Iterator[bytes]:
        return self.chunks

    def close(self) -> None:
        self.closed.set()


def test_buffered_response_is_one_start_and_one_body() -> None:
    exchange = asyncio.run(drive(serve(hello)))
    assert exchange.status == 200
    assert exchange.header(b"content-length") == b"5"
    assert [m.get("body") for m in exchange.body_messages] == [b"hello"]


def test_buffered_response_crosses_threads_once() -> None:
    """The worker thread hands the loop the whole answer in one call_soon_threadsafe."""
    hops = 0

    async def main() -> Exchange:
        nonlocal hops
        loop = asyncio.get_running_loop()
        original = loop.call_soon_threadsafe

        def counting(*args: Any, **kwargs: Any) -> asyncio.Handle:
            nonlocal hops
            hops += 1
            return original(*args, **kwargs)

        loop.call_soon_threadsafe = counting  # type: ignore[method-assign,assignment]
        return await drive(serve(hello))

    exchange = asyncio.run(main())
    assert exchange.body == b"hello"
    assert hops == 1


def test_environ_follows_gunicorn() -> None:
    seen: dict[str, Any] = {}

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        seen.update(environ)
        return hello(environ, start_response)

    scope = http_scope(
        "GET",
        "/caf%C3%A9/x",
        raw_path=b"/prefix/caf%C3%A9/x",
        root_path="/prefix",
        query=b"a=1&a=2",
        headers=[
            (b"cookie", b"a=1"),
            (b"cookie", b"b=2"),
            (b"x-many", b"1"),
            (b"x-many", b"2"),
            (b"x_under", b"dropped"),
            (b"content-type", b"text/plain"),
            (b"x-latin", "café".encode("latin-1")),
        ],
    )
    asyncio.run(drive(serve(app), scope))
    assert seen["SCRIPT_NAME"] == "/prefix"
    assert seen["PATH_INFO"] == "/café/x".encode().decode("latin-1")
    assert seen["RAW_URI"] == seen["REQUEST_URI"] == "/prefix/caf%C3%A9/x?a=1&a=2"
    assert seen["QUERY_STRING"] == "a=1&a=2"
    assert seen["HTTP_COOKIE"] == "a=1; b=2"
    assert seen["HTTP_X_MANY"] == "1,2"
    assert "HTTP_X_UNDER" not in seen
    assert seen["CONTENT_TYPE"] == "text/plain"
    assert "CONTENT_LENGTH" not in seen
    assert seen["HTTP_X_LATIN"] == "café"
    assert seen["wsgi.input_terminated"] is True
    assert seen["wsgi.errors"] is sys.stderr
    assert seen["wsgi.url_scheme"] == "http"
    assert seen["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert (seen["REMOTE_ADDR"], seen["SERVER_NAME"], seen["SERVER_PORT"]) == (
        "127.0.0.1",
        "127.0.0.1",
        "8000",
    )
    assert "wsgi.file_wrapper" in seen


def echo_body(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    data = environ["wsgi.input"].read()
    start_response("200 OK", [*TEXT, ("Content-Length", str(len(data)))])
    return [data]


@pytest.mark.parametrize(
    "pieces",
    [
        pytest.param([b"all at once"], id="one-message"),
        pytest.param([b"a" * 100_000, b"b" * 300_000, b"c" * 5, b""], id="several-messages"),
        pytest.param([b""] * 3 + [b"late"], id="empty-messages-first"),
    ],
)
def test_request_body_reaches_the_app(pieces: list[bytes]) -> None:
    exchange = asyncio.run(drive(serve(echo_body), http_scope("POST"), body=pieces))
    assert exchange.body == b"".join(pieces)


def test_request_body_read_by_lines() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        lines = list(environ["wsgi.input"])
        start_response("200 OK", TEXT)
        return [b"|".join(lines)]

    exchange = asyncio.run(
        drive(serve(app), http_scope("POST"), body=[b"one\ntw", b"o\nthree", b""])
    )
    assert exchange.body == b"one\n|two\n|three"


def test_client_leaving_mid_body_raises_in_the_reader() -> None:
    raised: list[BaseException] = []
    running = threading.Event()

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        running.set()
        try:
            environ["wsgi.input"].read()
        except OSError as exc:
            raised.append(exc)
            raise
        return []

    async def main() -> None:
        bridge = serve(app, body_buffer=4)  # "part" fills the buffer: the rest streams

        async def receive() -> Message:
            if not sent:
                sent.append(True)
                return {"type": "http.request", "body": b"part", "more_body": True}
            # Once the call runs: a client leaving before that means the call never runs.
            await asyncio.to_thread(running.wait, 10)
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            pass

        sent: list[bool] = []
        with pytest.raises(ClientDisconnected):
            await bridge(http_scope("POST"), receive, send)

    asyncio.run(main())
    assert len(raised) == 1


def test_stream_starts_before_the_generator_ends() -> None:
    first_chunk_sent = threading.Event()
    seen_by_generator: list[bool] = []

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", TEXT)
        yield b"first"
        # Only reached without deadlock if the bridge sent "first" before asking for more.
        seen_by_generator.append(first_chunk_sent.wait(timeout=5))
        yield b"second"

    async def on_send(exchange: Exchange, message: Message) -> None:
        if message.get("body") == b"first":
            first_chunk_sent.set()

    exchange = asyncio.run(drive(serve(app), on_send=on_send))
    assert seen_by_generator == [True]
    assert exchange.body == b"firstsecond"
    assert exchange.header(b"content-length") is None


@pytest.mark.parametrize(
    "first", [pytest.param(b"a", id="first-byte"), pytest.param(b"", id="empty-first-chunk")]
)
def test_a_slow_generator_streams_whatever_its_content_length(first: bytes) -> None:
    """httpbin's /drip: a generator that takes its time, with a Content-Length."""
    first_chunk_sent = threading.Event()
    seen_by_generator: list[bool] = []
    rest = b"abcd"[len(first) :]

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [*TEXT, ("Content-Length", "4")])
        yield first
        seen_by_generator.append(first_chunk_sent.wait(timeout=5))
        yield rest

    async def on_send(exchange: Exchange, message: Message) -> None:
        # The head goes out with the first chunk, even an empty one.
        if message["type"] == "http.response.start" or message.get("body") == first:
            first_chunk_sent.set()

    exchange = asyncio.run(drive(serve(app), on_send=on_send))
    assert seen_by_generator == [True]
    assert exchange.body == b"abcd"
    assert exchange.header(b"content-length") == b"4"


def test_large_known_length_streams_in_bounded_pieces() -> None:
    size = 8 * 1024 * 1024
    block = b"x" * 65536
    produced_ahead: list[int] = []
    sent_bytes = 0

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [*TEXT, ("Content-Length", str(size))])
        produced = 0
        for _ in range(size // len(block)):
            produced_ahead.append(produced - sent_bytes)
            produced += len(block)
            yield block

    async def on_send(exchange: Exchange, message: Message) -> None:
        nonlocal sent_bytes
        sent_bytes += len(message.get("body", b""))
        await asyncio.sleep(0.001)  # a client slower than the app

    exchange = asyncio.run(drive(serve(app, buffer_limit=1024 * 1024), on_send=on_send))
    assert len(exchange.body) == size
    assert len(exchange.body_messages) > 8
    # Never more than the pipe's bound (plus the chunk being handed over) ahead of the client.
    assert max(produced_ahead) <= STREAM_LIMIT + len(block)


@pytest.mark.parametrize(
    "chunks, fails",
    [
        pytest.param([b"a", b"b"], False, id="success"),
        pytest.param([b"a", b"b"], True, id="error"),
    ],
)
@pytest.mark.parametrize(
    "length", [pytest.param("2", id="buffered"), pytest.param(None, id="stream")]
)
def test_close_is_called(chunks: list[bytes], fails: bool, length: str | None) -> None:
    def produce() -> Iterator[bytes]:
        yield from chunks
        if fails:
            raise RuntimeError("the generator failed")

    response = Closing(produce())

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        headers = TEXT if length is None else [*TEXT, ("Content-Length", length)]
        start_response("200 OK", headers)
        return response

    if fails:
        with pytest.raises(RuntimeError, match="the generator failed"):
            asyncio.run(drive(serve(app)))
    else:
        assert asyncio.run(drive(serve(app))).body == b"ab"
    assert response.closed.is_set()


def test_client_leaving_stops_an_endless_stream_and_frees_the_thread() -> None:
    def endless() -> Iterator[bytes]:
        while True:
            time.sleep(0.01)
            yield b"tick\n"

    response = Closing(endless())

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ["PATH_INFO"] == "/quick":
            return hello(environ, start_response)
        start_response("200 OK", TEXT)
        return response

    async def leave_after_three(exchange: Exchange, message: Message) -> None:
        if len(exchange.body_messages) == 3:
            exchange.disconnected.set()

    async def main() -> Exchange:
        bridge = serve(app, threads=1)
        await drive(bridge, on_send=leave_after_three)
        # The only thread is free again.
        return await asyncio.wait_for(drive(bridge, http_scope(path="/quick")), 2)

    assert asyncio.run(main()).body == b"hello"
    assert response.closed.wait(timeout=2)


def test_app_error_before_the_response_propagates() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        raise LookupError("no such thing")

    with pytest.raises(LookupError, match="no such thing"):
        asyncio.run(drive(serve(app)))


def test_app_error_after_the_response_started_propagates_after_the_head() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", TEXT)
        yield b"partial"
        raise LookupError("failed mid-stream")

    sent: list[Message] = []

    async def main() -> None:
        async def record(exchange: Exchange, message: Message) -> None:
            sent.append(message)

        await drive(serve(app), on_send=record)

    with pytest.raises(LookupError, match="failed mid-stream"):
        asyncio.run(main())
    assert sent[0]["type"] == "http.response.start"
    assert b"".join(m.get("body", b"") for m in sent[1:]) == b"partial"
    assert all(m.get("more_body") for m in sent[1:])  # never a complete response


def test_system_exit_in_the_app_does_not_hang_the_request() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        raise SystemExit(3)

    with pytest.raises(RuntimeError, match="SystemExit"):
        asyncio.run(asyncio.wait_for(drive(serve(app)), 5))


def test_context_variables_reach_the_worker_thread() -> None:
    user: contextvars.ContextVar[str] = contextvars.ContextVar("user", default="nobody")

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", TEXT)
        return [user.get().encode()]

    async def main() -> bytes:
        user.set("alice")
        return (await drive(serve(app))).body

    assert asyncio.run(main()) == b"alice"


def test_beyond_threads_and_queue_the_call_is_refused_503() -> None:
    release = threading.Event()
    seen = Seen()

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        release.wait(timeout=10)
        return hello(environ, start_response)

    async def main() -> list[Exchange]:
        bridge = serve(app, seen, threads=1, queue_limit=1)
        busy = [asyncio.create_task(drive(bridge)) for _ in range(2)]  # one runs, one waits
        await eventually(lambda: bridge.admitted == 2)
        with pytest.raises(Refused) as refused:
            await drive(bridge)
        assert (refused.value.status, refused.value.error) == (503, "overloaded")
        assert refused.value.headers == [(b"retry-after", b"1")]
        assert refused.value.side == "legacy"
        release.set()
        answered = await asyncio.gather(*busy)
        await eventually(lambda: bridge.admitted == 0)
        again = await drive(bridge)  # capacity is back once the calls finished
        return [*answered, again]

    assert [exchange.status for exchange in asyncio.run(main())] == [200, 200, 200]
    assert seen.rejections == 1


@pytest.mark.parametrize(
    "status, headers, message",
    [
        pytest.param("200", [("X-Bad", "a\nb")], "X-Bad", id="newline-in-value"),
        pytest.param("200", [("Bad Name", "x")], "Bad Name", id="space-in-name"),
        pytest.param("200", [("X-Euro", "€")], "X-Euro", id="not-latin-1"),
        pytest.param("OK", [], "status", id="status-without-code"),
        pytest.param("200", [("Content-Length", "-1")], "Content-Length", id="negative-length"),
    ],
)
def test_invalid_heads_fail_before_anything_is_sent(
    status: str, headers: list[tuple[str, str]], message: str
) -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response(status, headers)
        return [b""]

    sent: list[Message] = []

    async def record(exchange: Exchange, msg: Message) -> None:
        sent.append(msg)

    with pytest.raises(InvalidResponse, match=message):
        asyncio.run(drive(serve(app), on_send=record))
    assert sent == []


def headers_app(
    status: str, headers: list[tuple[str, str]], chunks: list[bytes]
) -> WSGIApplication:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response(status, headers)
        return chunks

    return app


def test_hop_by_hop_headers_are_dropped() -> None:
    app = headers_app(
        "200 OK",
        [*TEXT, ("Connection", "close"), ("Keep-Alive", "5"), ("Transfer-Encoding", "chunked")],
        [b"x"],
    )
    exchange = asyncio.run(drive(serve(app)))
    assert [name for name, _ in exchange.headers] == [b"content-type"]


@pytest.mark.parametrize(
    "buffer_limit", [pytest.param(1024, id="buffered"), pytest.param(0, id="stream")]
)
def test_body_beyond_content_length_is_cut(buffer_limit: int) -> None:
    """gunicorn's rule: never more bytes than the declared Content-Length."""
    app = headers_app("200 OK", [("Content-Length", "3")], [b"abcdef", b"gh"])
    assert asyncio.run(drive(serve(app, buffer_limit=buffer_limit))).body == b"abc"


@pytest.mark.parametrize(
    "method, status, headers, kept_length",
    [
        pytest.param("HEAD", "200 OK", [("Content-Length", "4")], b"4", id="head"),
        pytest.param("GET", "204 No Content", [("Content-Length", "4")], None, id="204"),
        pytest.param("GET", "304 Not Modified", [("Content-Length", "4")], b"4", id="304"),
        pytest.param("HEAD", "200 OK", [], None, id="head-stream"),
    ],
)
def test_bodyless_responses(
    method: str, status: str, headers: list[tuple[str, str]], kept_length: bytes | None
) -> None:
    app = headers_app(status, headers, [b"body"])
    exchange = asyncio.run(drive(serve(app), http_scope(method)))
    assert exchange.body == b""
    assert exchange.header(b"content-length") == kept_length
    assert exchange.complete


@pytest.mark.parametrize(
    "buffer_limit", [pytest.param(1024, id="buffered"), pytest.param(0, id="stream")]
)
def test_write_callable(buffer_limit: int) -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        write = start_response("200 OK", [("Content-Length", "11")])
        write(b"written ")
        return [b"and", b""]

    exchange = asyncio.run(drive(serve(app, buffer_limit=buffer_limit)))
    assert exchange.body == b"written and"


def test_start_response_inside_the_generator() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterator[bytes]:
        start_response("201 Created", TEXT)
        yield b"late start"

    exchange = asyncio.run(drive(serve(app)))
    assert (exchange.status, exchange.body) == (201, b"late start")


def test_body_before_start_response_fails() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return [b"no head"]

    with pytest.raises(RuntimeError, match="before calling start_response"):
        asyncio.run(drive(serve(app)))


def test_error_page_replaces_the_head_until_it_is_sent() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Length", "2")])
        try:
            raise ValueError("while rendering")
        except ValueError:
            start_response("500 Internal Server Error", [("Content-Length", "4")], sys.exc_info())
        return [b"oops"]

    exchange = asyncio.run(drive(serve(app)))
    assert (exchange.status, exchange.body) == (500, b"oops")


def test_exc_info_after_the_head_was_sent_reraises() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", TEXT)
        yield b"started"
        try:
            raise ValueError("too late")
        except ValueError:
            start_response("500 Internal Server Error", TEXT, sys.exc_info())
        yield b"never"

    with pytest.raises(ValueError, match="too late"):
        asyncio.run(drive(serve(app)))


def test_a_response_without_head_or_body_fails() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return []

    with pytest.raises(RuntimeError, match="ended without a head"):
        asyncio.run(drive(serve(app)))


def test_write_after_the_stream_started() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterator[bytes]:
        write = start_response("200 OK", TEXT)
        yield b"iterated "
        write(b"then written")

    assert asyncio.run(drive(serve(app))).body == b"iterated then written"


def test_start_response_twice_without_exc_info_fails() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", TEXT)
        start_response("200 OK", TEXT)
        return []

    with pytest.raises(RuntimeError, match="twice"):
        asyncio.run(drive(serve(app)))


def test_file_wrapper_reads_large_blocks() -> None:
    import io

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", TEXT)
        wrapper: Callable[..., Iterable[bytes]] = environ["wsgi.file_wrapper"]
        return wrapper(io.BytesIO(b"z" * 200_000), 8192)

    exchange = asyncio.run(drive(serve(app)))
    assert exchange.body == b"z" * 200_000


def test_a_failing_close_is_logged_and_the_answer_kept(caplog: pytest.LogCaptureFixture) -> None:
    class FailingClose(Closing):
        def close(self) -> None:
            raise OSError("cleanup failed")

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Length", "4")])
        return FailingClose([b"done"])

    assert asyncio.run(drive(serve(app))).body == b"done"
    assert "close() on the WSGI response failed" in caplog.text


def test_after_shutdown_a_request_is_refused_and_counts_for_nothing() -> None:
    async def main() -> WSGIBridge:
        bridge = serve(hello)
        assert (await drive(bridge)).status == 200
        await eventually(lambda: bridge.admitted == 0)  # the thread is done with the call
        bridge.pool.shutdown()
        with pytest.raises(PoolClosed):
            await drive(bridge)
        return bridge

    assert asyncio.run(main()).admitted == 0


def test_websocket_is_refused_and_lifespan_completes() -> None:
    async def main() -> list[Message]:
        bridge = serve(hello)
        sent: list[Message] = []
        incoming: list[Message] = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]

        async def receive() -> Message:
            return incoming.pop(0)

        async def send(message: Message) -> None:
            sent.append(message)

        await bridge({"type": "websocket"}, receive, send)
        await bridge({"type": "lifespan"}, receive, send)
        return sent

    assert [m["type"] for m in asyncio.run(main())] == [
        "websocket.close",
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]
