"""The shadow runner in-process: a copy past its timeout, shutdown's drain, the budget."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from types import SimpleNamespace
from typing import cast

from prometheus_client import CollectorRegistry
from starlette.types import Message, Receive, Scope, Send

from gateway.behaviours.base import Context, Serving
from gateway.behaviours.compare import Answer
from gateway.behaviours.registry import entry_options
from gateway.behaviours.shadow import Copy, Shadow, ShadowOptions, ShadowRoute, ShadowRunner
from gateway.exchange import Exchange
from gateway.observe.metrics import GatewayMetrics
from gateway.routing.table import RouteEntry
from gateway.routing.templates import parse_template


async def answers(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def test_shutdown_does_not_wait_for_copies_that_already_timed_out() -> None:
    hanging = asyncio.Event()  # never set: the shadow side never answers

    async def hangs(scope: Scope, receive: Receive, send: Send) -> None:
        await hanging.wait()

    async def run() -> tuple[float, float, int]:
        registry = CollectorRegistry()
        runner = ShadowRunner(GatewayMetrics(registry), {"legacy": answers, "new": hangs}, deque())
        route = ShadowRoute("/r", ShadowOptions(timeout=0.05, noise_sample=0), False)
        assert runner.admit(route, "GET")
        scope = {"type": "http", "method": "GET", "path": "/r", "headers": []}
        runner.start(
            Copy(route, "legacy", scope, b"", Answer(status=200, body=bytearray(b"ok")), 0)
        )
        labels = {"route": "/r", "outcome": "timeout"}
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
        runner = ShadowRunner(GatewayMetrics(registry), {"legacy": answers, "new": hangs}, deque())
        route = ShadowRoute("/r", ShadowOptions(timeout=0.5, noise_sample=0), False)
        assert runner.admit(route, "GET")
        scope = {"type": "http", "method": "GET", "path": "/r", "headers": []}
        runner.start(
            Copy(route, "legacy", scope, b"", Answer(status=200, body=bytearray(b"ok")), 0)
        )
        started = time.monotonic()
        await runner.drain(60)  # the copy is still within its timeout as this starts
        labels = {"route": "/r", "outcome": "timeout"}
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

    async def run() -> int:
        metrics = GatewayMetrics(CollectorRegistry())
        runner = ShadowRunner(metrics, {"legacy": answers, "new": answers}, deque())
        route = ShadowRoute("/r", ShadowOptions(noise_sample=0), False)
        entry = RouteEntry(parse_template("/r"), None, entry_options({"target": "shadow"}), 0)
        exchange = SimpleNamespace(entry=entry, state=SimpleNamespace(shadow=route), method="GET")
        context = Context(cast(Serving, None), metrics, None, runner)
        call = asyncio.create_task(
            Shadow(context)(cast(Exchange, exchange), slow_upload, cast(Send, None))
        )
        while route.in_flight == 0:
            await asyncio.sleep(0.01)
        call.cancel()
        await asyncio.gather(call, return_exceptions=True)
        return route.in_flight

    assert asyncio.run(run()) == 0
