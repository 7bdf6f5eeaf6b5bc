"""The plain way of calling a side (SideCaller.plain): taken by requests no policy acts on,
and indistinguishable from the general way (`Serving.serve`) in everything a client, the
metrics and the access log see."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from starlette.types import Message, Receive, Scope, Send

from gateway.dispatcher import Gateway
from gateway.observe.metrics import GatewayMetrics
from gateway.pipeline.caller import SideCaller
from gateway.pipeline.exchange import Exchange, Outcome
from gateway.side_names import LEGACY, NEW, SideName
from gateway.sides.asgi import ASGISide
from tests.gateway.in_process import serving, settings

ROUTES = """\
default: legacy
routes:
  - {path: /api/items, target: new}
  - {path: "/api/items/{item_id:int}", target: legacy}
  - {path: /boom, target: new}
  - {path: /cut, target: new}
  - {path: /hang, target: new, timeout: 0.2}
  - {path: /echo, target: new}
  - {path: /admin, target: canary, weight: 100}
  - {path: "/files/{name:path}", target: match, rules: [{header: x-side, equals: new, side: new}]}
  - {path: /flaky, target: new, fallback: legacy}
  - {path: /slow, target: new, guard: true}
  - {path: "/compare/{case}", target: shadow, primary: legacy}
"""

Request = tuple[str, str, dict[str, str], bytes]

# Through plain entries, the table's default side and the refusals and failures of both sides.
PLAIN: list[Request] = [
    ("GET", "/api/items", {}, b""),
    ("GET", "/api/items/7", {}, b""),
    ("GET", "/admin", {}, b""),
    ("GET", "/files/a.txt", {"x-side": "new"}, b""),
    ("GET", "/files/a.txt", {}, b""),
    ("GET", "/nowhere", {}, b""),
    ("GET", "/boom", {}, b""),
    ("GET", "/hang", {}, b""),
    ("POST", "/api/items/7", {}, b"x" * 2048),  # legacy's body limit: the bridge refuses it
]
# Through entries with a policy, and a body for the new side to guard.
WITH_POLICY: list[Request] = [
    ("GET", "/flaky", {}, b""),
    ("GET", "/slow?seconds=0", {}, b""),
    ("GET", "/compare/same", {}, b""),
    ("POST", "/echo", {}, b"x" * 2048),
]


def _watch(app: Gateway) -> dict[str, int]:
    """Counts of the plain and the general way taken by `app`'s requests."""
    taken = {"plain": 0, "serve": 0}
    serving_ = app.serving
    plain, serve = serving_.caller.plain, serving_.serve

    def counted(name: str, call: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        def counting(*args: Any, **kwargs: Any) -> Awaitable[Any]:
            taken[name] += 1
            return call(*args, **kwargs)

        return counting

    serving_.caller.plain = counted("plain", plain)  # type: ignore[method-assign,assignment]
    serving_.serve = counted("serve", serve)  # type: ignore[method-assign,assignment]
    return taken


async def _send(client: httpx.AsyncClient, request: Request, number: int) -> httpx.Response:
    method, path, extra, body = request
    given = {"x-request-id": f"req-{number}", **extra}
    return await client.request(method, path, headers=given, content=body or None)


@pytest.mark.parametrize(
    ("request_", "plain"),
    [pytest.param(r, True, id=f"plain {r[0]} {r[1]} {r[2]}") for r in PLAIN]
    + [pytest.param(r, False, id=f"policy {r[0]} {r[1]}") for r in WITH_POLICY],
)
def test_the_plain_way_is_taken_where_no_policy_acts(
    tmp_path: Path, request_: Request, plain: bool
) -> None:
    async def run() -> dict[str, int]:
        given = settings(tmp_path, ROUTES, max_body=1024)
        async with serving(given, CollectorRegistry()) as (app, client):
            taken = _watch(app)
            await _send(client, request_, 1)
        return taken

    taken = asyncio.run(run())
    if plain:
        assert taken == {"plain": 1, "serve": 0}
    else:  # a fallback calls twice: the new side, then legacy
        assert taken["plain"] == 0 and taken["serve"] >= 1


def _samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every request metric's samples, but the durations (the clock's, not the gateway's)."""
    found = {}
    for family in registry.collect():
        if not family.name.startswith(("gateway_request", "gateway_responses")):
            continue
        for sample in family.samples:
            if sample.name.endswith(("_bucket", "_sum", "_created")):
                continue
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _log(path: Path) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    for line in lines:
        del line["time"], line["duration_ms"]
    return lines


async def _run(tmp_path: Path, fast: bool) -> tuple[list[Any], dict[Any, float], list[Any]]:
    log = tmp_path / f"access-{fast}.log"
    given = settings(tmp_path, ROUTES, max_body=1024, access_log=True, access_log_to=str(log))
    registry = CollectorRegistry()
    answers: list[Any] = []
    async with serving(given, registry) as (app, client):
        app.serving.fast_path = fast
        for number, request in enumerate(PLAIN):
            response = await _send(client, request, number)
            answers.append((response.status_code, sorted(response.headers.items()), response.text))
        with pytest.raises(RuntimeError, match="after its answer started"):  # a cut answer
            await _send(client, ("GET", "/cut", {}, b""), len(PLAIN))
        app.serving.caller.metrics.fold()
        samples = _samples(registry)
    return answers, samples, _log(log)


def test_the_plain_way_answers_counts_and_logs_as_the_general_way(tmp_path: Path) -> None:
    fast = asyncio.run(_run(tmp_path, fast=True))
    general = asyncio.run(_run(tmp_path, fast=False))
    assert fast == general
    answers, samples, log = fast
    statuses = [status for status, _, _ in answers]
    assert statuses == [200, 200, 200, 200, 200, 404, 500, 504, 413]
    cut = (("method", "GET"), ("route", "/cut"), ("side", "new"))
    assert samples[("gateway_responses_failed_total", cut)] == 1
    assert all(value == 0 for (name, _), value in samples.items() if "in_progress" in name)
    assert [line["request_id"] for line in log] == [f"req-{n}" for n in range(len(PLAIN) + 1)]


def _plain_call(app: Any, side: SideName, timeout: float = 30.0) -> Any:
    """`SideCaller.plain` on `app`, as a task; what it sent and what it published."""
    sent: list[Message] = []
    published: list[Outcome] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    metrics = GatewayMetrics(CollectorRegistry())
    caller = SideCaller(metrics, new_timeout=timeout)
    scope: dict[str, Any] = {"type": "http", "method": "GET", "path": "/", "headers": []}
    exchange = Exchange(scope, scope, "GET", "/", b"req-1", time.perf_counter())

    def account(exchange: Exchange, side: Any, outcome: Outcome, started: float) -> None:
        published.append(outcome)

    call = caller.plain(exchange, ASGISide(side, app), receive, send, account)
    return asyncio.ensure_future(call), sent, published, metrics


async def _hang(scope: Scope, receive: Receive, send: Send) -> None:
    await asyncio.Event().wait()


@pytest.mark.parametrize("side", [LEGACY, NEW])
def test_a_plain_call_cancelled_by_its_client_stays_cancelled(side: SideName) -> None:
    async def run() -> tuple[Any, ...]:
        task, sent, published, metrics = _plain_call(_hang, side)
        await asyncio.sleep(0)  # the side is waiting
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return sent, published, metrics

    sent, published, metrics = asyncio.run(run())
    assert sent == [] and [outcome.status for outcome in published] == [0]
    assert metrics.running(side).value == 0


def test_a_plain_call_past_the_new_sides_timeout_is_answered_504() -> None:
    async def run() -> tuple[Any, ...]:
        task, sent, published, metrics = _plain_call(_hang, NEW, timeout=0.05)
        await asyncio.wait_for(task, 30)
        return sent, published

    sent, published = asyncio.run(run())
    assert sent[0]["status"] == 504 and (b"x-gateway-side", b"gateway") in sent[0]["headers"]
    assert published[0].own and published[0].status == 504
