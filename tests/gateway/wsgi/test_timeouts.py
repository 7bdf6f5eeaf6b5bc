"""Calls that hang, wait too long for a thread, or lose their client while they wait.

Each test drives the bridge in-process; the calls that hang block on an event the test sets,
so nothing here depends on how fast the machine is, except the (short) timeouts themselves.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
from starlette.types import Message

from gateway.http.body_limits import BodyLimits
from gateway.http.responses import Refused
from gateway.wsgi import BridgeLimits, WSGIBridge
from gateway.wsgi.bridge import ResponseCut
from tests.gateway.wsgi.asgi_driver import Exchange, Seen, drive, http_scope
from tests.waiting import eventually

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

TEXT = [("Content-Type", "text/plain")]


class Gated:
    """`/hang` blocks until `release` is set; `/first-then-hang` does so after one chunk.

    Every other path answers at once. `ran` counts the calls that reached the app, by path.
    """

    def __init__(self) -> None:
        self.release = threading.Event()
        self.ran: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ["PATH_INFO"]
        with self._lock:
            self.ran[path] += 1
        if path == "/hang":
            self.release.wait(timeout=30)
        if path == "/first-then-hang":
            start_response("200 OK", TEXT)
            return self._first_then_hang()
        start_response("200 OK", [*TEXT, ("Content-Length", "2")])
        return [b"ok"]

    def _first_then_hang(self) -> Iterator[bytes]:
        yield b"first"
        self.release.wait(timeout=30)
        yield b"late"


def serve(app: Gated, observer: Seen | None = None, **limits: Any) -> WSGIBridge:
    limits.setdefault("threads", 1)
    # Long enough that a call that does not hang never overruns, even on a loaded machine.
    limits.setdefault("timeout", 0.5)
    return WSGIBridge(app, BridgeLimits(**limits), observer)


async def get(bridge: WSGIBridge, path: str) -> Exchange:
    return await drive(bridge, http_scope(path=path))


def test_a_hung_call_is_answered_504_and_its_thread_replaced() -> None:
    app = Gated()
    seen = Seen()
    threads_before = threading.active_count()

    async def main() -> None:
        bridge = serve(app, seen)
        with pytest.raises(Refused) as refused:
            await get(bridge, "/hang")
        assert (refused.value.status, refused.value.error) == (504, "timeout")
        assert refused.value.side == "legacy"
        assert (bridge.pool.stuck, bridge.unhealthy, bridge.health_problem()) == (1, False, None)
        # The only thread hangs, and yet another call is served: a new thread took its place.
        assert (await get(bridge, "/quick")).body == b"ok"
        app.release.set()
        await eventually(lambda: bridge.pool.stuck == 0)
        assert (await get(bridge, "/quick")).status == 200
        bridge.pool.shutdown()
        await eventually(lambda: threading.active_count() == threads_before)

    asyncio.run(main())
    assert seen.stuck_counts == [1, 0]
    assert seen.timeouts == 1


def test_at_the_cap_the_bridge_is_unhealthy_and_hung_threads_cost_capacity() -> None:
    app = Gated()

    async def main() -> None:
        bridge = serve(app, max_stuck=1, queue_limit=0)
        with pytest.raises(Refused, match="504 timeout"):
            await get(bridge, "/hang")
        assert bridge.unhealthy
        assert bridge.health_problem() == (
            "1 WSGI threads are stuck in calls that timed out (at most 1 are replaced)"
        )
        assert (await get(bridge, "/quick")).status == 200  # the one stuck thread was replaced
        await eventually(lambda: bridge.admitted == 0)  # its thread is done with /quick
        with pytest.raises(Refused, match="504 timeout"):
            await get(bridge, "/hang")
        # Beyond the cap no thread replaces the second one: no thread is left for a new call.
        with pytest.raises(Refused, match="503 overloaded") as refused:
            await get(bridge, "/quick")
        assert refused.value.headers == [(b"retry-after", b"1")]
        app.release.set()
        await eventually(lambda: bridge.pool.stuck == 0)
        assert not bridge.unhealthy
        assert (await get(bridge, "/quick")).status == 200

    asyncio.run(main())


def test_a_stream_that_stops_producing_is_cut() -> None:
    app = Gated()
    sent: list[Message] = []

    async def record(exchange: Exchange, message: Message) -> None:
        sent.append(message)

    async def main() -> None:
        bridge = serve(app)
        with pytest.raises(ResponseCut, match="produced nothing for 0.5 s"):
            await drive(bridge, http_scope(path="/first-then-hang"), on_send=record)
        assert bridge.pool.stuck == 1
        app.release.set()
        await eventually(lambda: bridge.pool.stuck == 0)

    asyncio.run(main())
    assert [m.get("body") for m in sent] == [None, b"first"]
    assert sent[-1]["more_body"]  # never a complete response


def test_a_slow_but_steady_stream_is_not_timed_out() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", TEXT)
        for index in range(12):
            time.sleep(0.1)  # each chunk well within the timeout, all of them beyond it
            yield str(index % 10).encode()

    exchange = asyncio.run(drive(WSGIBridge(app, BridgeLimits(threads=1, timeout=1.0))))
    assert exchange.body == b"012345678901"


def test_a_client_that_takes_nothing_is_cut_and_frees_the_thread() -> None:
    """A thread waiting for the client to take its output is not stuck: it returns at once."""
    closed = threading.Event()
    unblock = asyncio.Event()

    def endless() -> Iterator[bytes]:
        try:
            while True:
                yield b"x" * 65536
        finally:
            closed.set()

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", TEXT)
        return endless()

    async def stall(exchange: Exchange, message: Message) -> None:
        if message["type"] == "http.response.body":
            await unblock.wait()  # a client that stopped reading

    async def main() -> None:
        seen = Seen()
        bridge = WSGIBridge(app, BridgeLimits(threads=1, timeout=0.5), seen)
        client = asyncio.create_task(drive(bridge, on_send=stall))
        await eventually(closed.is_set)  # while the send is still blocked
        assert seen.timeouts == 1
        assert bridge.pool.stuck == 0
        unblock.set()
        with pytest.raises(ResponseCut):
            await client

    asyncio.run(main())


def test_a_call_that_waited_too_long_for_a_thread_is_refused_and_never_runs() -> None:
    app = Gated()

    async def main() -> None:
        bridge = serve(app, max_stuck=0)  # the hung thread is not replaced: /count must wait
        hung = asyncio.create_task(get(bridge, "/hang"))
        await eventually(lambda: app.ran["/hang"] == 1)
        with pytest.raises(Refused, match="no legacy thread was free within 0.5 s"):
            await get(bridge, "/count")
        with pytest.raises(Refused, match="produced nothing"):
            await hung
        app.release.set()
        # One thread, first in first out: /quick runs after the thread skipped /count.
        assert (await get(bridge, "/quick")).status == 200

    asyncio.run(main())
    assert app.ran["/count"] == 0


def test_a_call_whose_client_left_while_it_waited_is_not_run() -> None:
    app = Gated()
    listening = asyncio.Event()
    left = asyncio.Event()
    calls = 0

    async def leaving_receive() -> Message:
        nonlocal calls
        calls += 1
        if calls == 1:
            return {"type": "http.request", "body": b"", "more_body": False}
        listening.set()  # the bridge watches the waiting call for its client leaving
        await left.wait()
        return {"type": "http.disconnect"}

    async def main() -> list[Message]:
        bridge = serve(app, timeout=30)
        hung = asyncio.create_task(get(bridge, "/hang"))
        await eventually(lambda: app.ran["/hang"] == 1)
        sent: list[Message] = []

        async def send(message: Message) -> None:
            sent.append(message)

        waiting = asyncio.create_task(bridge(http_scope(path="/count"), leaving_receive, send))
        await asyncio.wait_for(listening.wait(), 10)
        left.set()
        await asyncio.wait_for(waiting, 10)  # it returns without an answer: nobody to answer
        app.release.set()
        assert (await hung).status == 200
        assert (await get(bridge, "/quick")).status == 200  # after the thread skipped /count
        return sent

    assert asyncio.run(main()) == []
    assert app.ran["/count"] == 0


def test_a_thread_waiting_for_a_slow_body_is_not_stuck() -> None:
    """With a body timeout longer than the call's, the call's timeout ends the wait: 408."""
    read_failed = threading.Event()

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        try:
            environ["wsgi.input"].read()
        except OSError:
            read_failed.set()
            raise
        start_response("200 OK", TEXT)
        return [b"never"]

    async def receive() -> Message:
        if not sent:
            sent.append(True)
            return {"type": "http.request", "body": b"part", "more_body": True}
        await asyncio.Event().wait()  # the client sends nothing more
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        raise AssertionError(f"nothing is sent: {message}")

    sent: list[bool] = []

    async def main() -> None:
        limits = BodyLimits(idle_timeout=30)
        bridge = WSGIBridge(
            app, BridgeLimits(threads=1, timeout=0.5, body_buffer=4, body_limits=limits)
        )
        chunked = http_scope("POST", headers=[(b"transfer-encoding", b"chunked")])
        with pytest.raises(Refused, match="408 body_timeout: no part of the request body arrived"):
            await bridge(chunked, receive, send)
        await asyncio.to_thread(read_failed.wait, 10)
        assert bridge.pool.stuck == 0

    asyncio.run(main())
    assert read_failed.is_set()


def test_only_calls_that_neither_stuck_nor_streamed_are_timed_for_the_limit() -> None:
    app = Gated()

    async def main() -> None:
        bridge = serve(app, adaptive=True, threads=2)
        limiter = bridge.limiter
        assert limiter is not None
        assert (await get(bridge, "/quick")).status == 200
        await eventually(lambda: limiter.sampled == 1)
        with pytest.raises(Refused, match="504 timeout"):
            await get(bridge, "/hang")  # stuck: what it took is not the app's usual
        with pytest.raises(ResponseCut):
            await get(bridge, "/first-then-hang")  # streamed, then stuck
        app.release.set()
        await eventually(lambda: bridge.pool.stuck == 0)
        assert (await get(bridge, "/quick")).status == 200
        await eventually(lambda: limiter.sampled == 2)
        bridge.pool.shutdown()

    asyncio.run(main())


def test_a_call_that_waits_for_a_thread_beyond_the_queue_timeout_gets_503() -> None:
    app = Gated()
    seen = Seen()

    async def main() -> None:
        bridge = serve(app, seen, timeout=30, queue_timeout=0.05)
        hung = asyncio.ensure_future(get(bridge, "/hang"))
        await eventually(lambda: app.ran["/hang"] == 1)
        with pytest.raises(Refused, match="503 overloaded") as refused:
            await get(bridge, "/quick")
        assert refused.value.headers == [(b"retry-after", b"1")]
        app.release.set()
        assert (await hung).status == 200
        assert app.ran["/quick"] == 0  # given up, never run
        bridge.pool.shutdown()

    asyncio.run(main())
    assert seen.queue_timeouts == 1


def test_a_probe_blocked_by_a_hung_call_is_abandoned_under_a_short_queue_timeout() -> None:
    # The probe runs calls one at a time; if its call hangs, the calls waiting for a thread are
    # what tells the limiter so. They must also when the queue timeout (here 0.3 s) refuses
    # them before the bridge would otherwise first look at them: else every later call gets
    # 503 for as long as the one call hangs, with the other thread idle.
    app = Gated()

    async def main() -> None:
        bridge = serve(app, adaptive=True, threads=2, timeout=30, queue_timeout=0.3)
        limiter = bridge.limiter
        assert limiter is not None
        while limiter.limit != 1:  # quick calls until the first probe starts (1 s in)
            assert (await get(bridge, "/quick")).status == 200
        hung = asyncio.ensure_future(get(bridge, "/hang"))
        await eventually(lambda: app.ran["/hang"] == 1)
        answers = []
        for _ in range(20):  # 6 s at most; the probe counts as stalled after 0.5 s
            try:
                answers.append((await get(bridge, "/quick")).status)
                break
            except Refused as refused:
                answers.append(refused.status)
        assert answers[-1] == 200, answers
        assert limiter.limit == 2
        app.release.set()
        assert (await hung).status == 200
        bridge.pool.shutdown()

    asyncio.run(main())


def test_a_call_waiting_for_its_request_body_does_not_count_against_the_limit() -> None:
    # A slow upload waits on its client, as a streamed response does: while it waits, it must
    # not hold one of the few threads a CPU-bound limit allows (here the probe's one).
    reading, sent_rest = threading.Event(), asyncio.Event()
    gated = Gated()

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ["PATH_INFO"] != "/upload":
            return gated(environ, start_response)
        reading.set()
        body = environ["wsgi.input"].read()
        start_response("200 OK", TEXT)
        return [body]

    pieces = [b"part", b"rest"]

    async def receive() -> Message:
        if len(pieces) == 1:
            await sent_rest.wait()  # the client is slow to send the rest
        if pieces:
            piece = pieces.pop(0)
            return {"type": "http.request", "body": piece, "more_body": bool(pieces)}
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def main() -> None:
        bridge = WSGIBridge(app, BridgeLimits(threads=2, adaptive=True, timeout=30, body_buffer=4))
        limiter = bridge.limiter
        assert limiter is not None
        while limiter.limit != 1:  # quick calls until the first probe starts (1 s in)
            assert (await get(bridge, "/quick")).status == 200
        scope = http_scope("POST", "/upload", headers=[(b"transfer-encoding", b"chunked")])
        upload = asyncio.ensure_future(bridge(scope, receive, send))
        await asyncio.to_thread(reading.wait, 10)
        assert (await get(bridge, "/quick")).status == 200
        assert limiter.limit == 1  # answered at once, not after the limit grew on a stall
        sent_rest.set()
        await upload
        assert b"".join(m.get("body", b"") for m in sent[1:]) == b"partrest"
        bridge.pool.shutdown()

    asyncio.run(main())


def test_one_timer_watches_every_call_and_keeps_none_alive() -> None:
    def quick(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", TEXT)
        return [b"ok"]

    async def run() -> None:
        bridge = WSGIBridge(quick, BridgeLimits(threads=2, timeout=30))
        for _ in range(20):
            assert (await drive(bridge)).body == b"ok"
        loop = asyncio.get_running_loop()
        # Twenty first checks pending, one timer for them all, and no call kept for them (but
        # the last one each worker thread ran, still in its frame until it takes the next).
        assert len(bridge._first_checks) == 20
        assert bridge._sweep is not None and bridge._sweep_loop is loop
        gc.collect()
        assert sum(ref() is not None for _, ref in bridge._first_checks) <= 2
        await eventually(lambda: not bridge._first_checks, what="the sweep past them")
        assert bridge._sweep is None
        bridge.pool.shutdown()

    asyncio.run(run())
