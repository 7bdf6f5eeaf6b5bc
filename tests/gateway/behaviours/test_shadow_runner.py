"""The shadow runner in-process: a copy past its timeout, shutdown's drain, the budget."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import cast

from prometheus_client import CollectorRegistry
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.behaviours.registry import entry_options
from gateway.behaviours.shadow import Copy, ShadowOptions, ShadowRoute, ShadowRunner
from gateway.compare import Answer
from gateway.observe.accounting import Accounting
from gateway.observe.metrics import GatewayMetrics
from gateway.pipeline.caller import SideCaller
from gateway.pipeline.exchange import Exchange, Outcome
from gateway.pipeline.outcomes import OutcomeBus
from gateway.pipeline.serving import Serving
from gateway.routing.table import RouteEntry
from gateway.routing.templates import parse_template
from gateway.sides import LEGACY, NEW, Side, SideName
from gateway.sides.asgi import ASGISide


async def answers(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def serving_over(metrics: GatewayMetrics, legacy: ASGIApp, new: ASGIApp) -> Serving:
    """The gateway's own caller and bus, over two in-process ASGI apps."""
    sides: dict[SideName, Side] = {LEGACY: ASGISide(LEGACY, legacy), NEW: ASGISide(NEW, new)}
    bus = OutcomeBus(Accounting(metrics, access_log=None))
    return Serving(sides, SideCaller(metrics), bus)


def runner_over(registry: CollectorRegistry, legacy: ASGIApp, new: ASGIApp) -> ShadowRunner:
    metrics = GatewayMetrics(registry)
    return ShadowRunner(metrics, serving_over(metrics, legacy, new), deque())


def test_shutdown_does_not_wait_for_copies_that_already_timed_out() -> None:
    hanging = asyncio.Event()  # never set: the shadow side never answers

    async def hangs(scope: Scope, receive: Receive, send: Send) -> None:
        await hanging.wait()

    async def run() -> tuple[float, float, int]:
        registry = CollectorRegistry()
        runner = runner_over(registry, answers, hangs)
        route = ShadowRoute("/r", ShadowOptions(timeout=0.05, noise_sample=0), False)
        assert runner.admit(route, "GET", LEGACY)
        scope = {"type": "http", "method": "GET", "path": "/r", "headers": []}
        runner.start(
            Copy(route, "legacy", scope, b"", Answer(status=200, body=bytearray(b"ok")), 0)
        )
        labels = {"route": "/r", "outcome": "timeout", "primary": "legacy"}
        while not registry.get_sample_value("gateway_shadow_comparisons_total", labels):
            await asyncio.sleep(0.01)
        held = route.in_flight  # the timed-out copy keeps its place while its call runs
        started = time.monotonic()
        await runner.drain(60)
        await asyncio.sleep(0)  # the cancelled copy ends
        return time.monotonic() - started, held, route.in_flight

    waited, held, left = asyncio.run(run())
    assert held == 1 and left == 0
    # Its outcome is recorded already: shutdown has nothing to wait for (60 s otherwise).
    assert waited < 20


def test_shutdown_stops_waiting_for_a_copy_once_it_times_out() -> None:
    hanging = asyncio.Event()

    async def hangs(scope: Scope, receive: Receive, send: Send) -> None:
        await hanging.wait()

    async def run() -> float:
        registry = CollectorRegistry()
        runner = runner_over(registry, answers, hangs)
        route = ShadowRoute("/r", ShadowOptions(timeout=0.5, noise_sample=0), False)
        assert runner.admit(route, "GET", LEGACY)
        scope = {"type": "http", "method": "GET", "path": "/r", "headers": []}
        runner.start(
            Copy(route, "legacy", scope, b"", Answer(status=200, body=bytearray(b"ok")), 0)
        )
        started = time.monotonic()
        await runner.drain(60)  # the copy is still within its timeout as this starts
        labels = {"route": "/r", "outcome": "timeout", "primary": "legacy"}
        assert registry.get_sample_value("gateway_shadow_comparisons_total", labels) == 1
        return time.monotonic() - started

    # Waited for the copy's timeout (0.5 s), not for the drain's bound (60 s).
    assert asyncio.run(run()) < 20


def test_a_request_cancelled_while_its_body_is_read_gives_its_place_back() -> None:
    """The budget's place is taken before the body is read: a request cancelled there (a
    server stopping) must give it back, or the route would copy nothing once they add up."""
    never = asyncio.Event()

    async def slow_upload() -> Message:
        await never.wait()
        return {"type": "http.disconnect"}

    async def serve(
        exchange: Exchange, side: SideName, receive: Receive, send: Send, answer: Answer | None
    ) -> Outcome:
        await receive()
        return Outcome()

    async def run() -> int:
        runner = runner_over(CollectorRegistry(), answers, answers)
        route = ShadowRoute("/r", ShadowOptions(noise_sample=0), False)
        scope = {"type": "http", "method": "GET", "path": "/r", "headers": []}
        exchange = Exchange(scope, scope, "GET", "/r", b"1", time.perf_counter())
        call = asyncio.ensure_future(
            runner.serve(exchange, LEGACY, slow_upload, cast(Send, None), route, serve)
        )
        while route.in_flight == 0:
            await asyncio.sleep(0.01)
        call.cancel()
        await asyncio.gather(call, return_exceptions=True)
        return route.in_flight

    assert asyncio.run(run()) == 0


def test_a_copy_is_called_through_the_caller_and_shows_in_the_gauge() -> None:
    """A copy is one more call of its side: in gateway_requests_in_progress while it runs, with
    the entry's timeout on the new side, and never counted as served traffic."""
    release = asyncio.Event()

    async def held(scope: Scope, receive: Receive, send: Send) -> None:
        await release.wait()
        await answers(scope, receive, send)

    async def run(registry: CollectorRegistry) -> None:
        runner = runner_over(registry, answers, held)
        route = ShadowRoute("/r", ShadowOptions(noise_sample=0), False)
        entry = RouteEntry(parse_template("/r"), None, entry_options({"target": "shadow"}), 0)
        assert runner.admit(route, "GET", LEGACY)
        scope = {"type": "http", "method": "GET", "path": "/r", "headers": []}
        primary = Answer(status=200, body=bytearray(b"ok"))
        runner.start(Copy(route, LEGACY, scope, b"", primary, 0, entry))
        running = {"side": "new"}
        while registry.get_sample_value("gateway_requests_in_progress", running) != 1:
            await asyncio.sleep(0.01)
        release.set()
        await runner.drain(60)

    registry = CollectorRegistry()
    asyncio.run(run(registry))
    labels = {"route": "/r", "outcome": "match", "primary": "legacy"}
    assert registry.get_sample_value("gateway_shadow_comparisons_total", labels) == 1
    assert registry.get_sample_value("gateway_requests_in_progress", {"side": "new"}) == 0
    served = {"route": "/r", "side": "new", "method": "GET", "status": "200"}
    assert not registry.get_sample_value("gateway_requests_total", served)
