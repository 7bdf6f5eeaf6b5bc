"""The new side's timeout (gateway.pipeline.deadline) against cancellations from elsewhere.

Some tests block the event loop with `time.sleep` on purpose: it is the one way to make two
timers fall due in the same loop iteration, or a timer fall due while the side is still
running, so that the race is certain rather than likely.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from starlette.types import Message, Receive, Scope, Send

from gateway.observe.metrics import GatewayMetrics
from gateway.pipeline.caller import SideCaller
from gateway.pipeline.deadline import Deadline
from gateway.pipeline.exchange import Exchange, Failed, Outcome
from gateway.side_names import LEGACY, NEW, SideName
from gateway.sides.asgi import ASGISide

TIMEOUT = 0.05


def _exchange() -> Exchange:
    scope: dict[str, Any] = {"type": "http", "method": "GET", "path": "/", "headers": []}
    return Exchange(scope, scope, "GET", "/", b"req-1", time.perf_counter())


async def _receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _answer(send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


async def _call(
    app: Any, side: SideName = NEW, refuse_5xx: bool = False
) -> tuple[Outcome, list[Message]]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    caller = SideCaller(GatewayMetrics(CollectorRegistry()), new_timeout=TIMEOUT)
    outcome = Outcome()
    await caller.call(_exchange(), ASGISide(side, app), _receive, send, outcome, None, refuse_5xx)
    return outcome, sent


def _not_cancelled() -> None:
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0


def test_a_side_that_does_not_start_in_time_gets_a_504() -> None:
    async def hung(scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.Event().wait()

    async def run() -> None:
        outcome, sent = await _call(hung)
        assert (outcome.status, outcome.own) == (504, True)
        body = json.loads(sent[1]["body"])
        assert body["error"] == "timeout" and f"{TIMEOUT:g} s" in body["detail"]
        _not_cancelled()

    asyncio.run(run())


def test_a_timeout_raises_failed_for_a_fallback() -> None:
    async def hung(scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.Event().wait()

    async def run() -> None:
        with pytest.raises(Failed, match="timeout"):
            await _call(hung, refuse_5xx=True)
        _not_cancelled()

    asyncio.run(run())


def test_an_answer_in_time_leaves_no_timer_behind() -> None:
    async def quick(scope: Scope, receive: Receive, send: Send) -> None:
        await _answer(send)

    async def run() -> None:
        outcome, _ = await _call(quick)
        assert outcome.status == 200
        await asyncio.sleep(TIMEOUT * 4)  # the deadline's time passes: nothing cancels us
        _not_cancelled()

    asyncio.run(run())


def test_the_legacy_side_has_no_deadline() -> None:
    async def slow(scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.sleep(TIMEOUT * 3)
        await _answer(send)

    async def run() -> None:
        outcome, _ = await _call(slow, side=LEGACY)
        assert outcome.status == 200

    asyncio.run(run())


def test_a_client_leaving_before_the_timeout_stays_a_cancellation() -> None:
    started = asyncio.Event()

    async def hung(scope: Scope, receive: Receive, send: Send) -> None:
        started.set()
        await asyncio.Event().wait()

    async def run() -> None:
        call = asyncio.create_task(_call(hung))
        await started.wait()
        call.cancel()  # as a server does when the client disconnects
        with pytest.raises(asyncio.CancelledError):
            await call

    asyncio.run(run())


def test_a_client_leaving_as_the_timeout_fires_stays_a_cancellation() -> None:
    async def hung(scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().call_later(TIMEOUT, task.cancel)  # the server's cancel
        time.sleep(TIMEOUT * 2)  # both timers fall due before the loop runs again
        await asyncio.Event().wait()

    async def run() -> None:
        call = asyncio.create_task(_call(hung))
        with pytest.raises(asyncio.CancelledError):
            await call
        assert call.cancelling() == 1  # the server's cancellation, not the deadline's

    asyncio.run(run())


def test_an_answer_started_as_the_timeout_falls_due_is_sent() -> None:
    async def late(scope: Scope, receive: Receive, send: Send) -> None:
        time.sleep(TIMEOUT * 2)  # the deadline is due, but the loop has not run it yet
        await _answer(send)

    async def run() -> None:
        outcome, sent = await _call(late)
        assert (outcome.status, outcome.own, outcome.complete) == (200, False, True)
        assert sent[1]["body"] == b"ok"
        await asyncio.sleep(TIMEOUT)
        _not_cancelled()

    asyncio.run(run())


def test_a_side_that_answers_despite_the_timeout_leaves_the_task_uncancelled() -> None:
    async def stubborn(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await _answer(send)  # swallows the cancellation and answers anyway

    async def run() -> None:
        outcome, _ = await _call(stubborn)
        assert outcome.status == 200
        _not_cancelled()

    asyncio.run(run())


def test_a_deadline_needs_a_task() -> None:
    with pytest.raises(RuntimeError):
        Deadline(1.0)
