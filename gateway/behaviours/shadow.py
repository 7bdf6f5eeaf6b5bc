"""The shadow policy (`shadow:` on any entry): the side that did not answer gets a copy of the
request once the client has its answer, and the two answers are compared.

Whichever side the entry's chooser picked answers the client; the copy goes to the other one,
so a canary compares in both directions, and `target: shadow` is a direct chooser (its
`primary`) with this policy (gateway.behaviours.shadow_target). The copy is called through the
one caller (gateway.pipeline.serving.Serving.copy): it has the new side's timeout and shows in
the in-progress gauge like any call, but is no answer to a client, so it is counted here only
(gateway_shadow_comparisons_total, the ledger), never as served traffic nor by a guard.

The copy starts only after the primary's response has been sent, runs as a background task
within a per-route concurrency budget and a timeout, and its answer is thrown away after the
comparison: a slow or broken shadow side never delays or fails a client. Only GET, HEAD and
OPTIONS are copied unless the route sets `shadow_unsafe: true`, because a copied write is
performed twice.

Noise (Diffy's idea, done in-process): for a sample of copies, the primary side also answers the
same request a second time; fields that differ between two runs of the same code (timestamps,
random ids) are learned per route, and differences found only in such fields count as noise, not
as mismatches.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.types import Receive, Scope, Send

from gateway.compare import Answer, Comparator, Difference
from gateway.http import headers
from gateway.http.bodies import read_body
from gateway.observe.metrics import GatewayMetrics
from gateway.observe.mismatch_log import MismatchLog
from gateway.options.headers import COPY_MARK, NO_RULES, ResolvedRules
from gateway.options.shadow import ShadowOptions
from gateway.pipeline.entry_state import EntryState
from gateway.pipeline.exchange import Exchange, Outcome
from gateway.pipeline.serving import Serving
from gateway.routing.methods import SAFE_METHODS
from gateway.routing.table import RouteEntry
from gateway.sides import SideName as Side
from gateway.sides import other

__all__ = [
    "SHADOW_HEADER",
    "SHADOW_OUTCOMES",
    "Copy",
    "ShadowOptions",
    "ShadowRoute",
    "ShadowRunner",
    "describe_shadow",
    "shadow_route",
    "with_shadow",
]

logger = logging.getLogger("gateway.behaviours.shadow")

# The outcomes of a copy, as gateway_shadow_comparisons_total counts them.
SHADOW_OUTCOMES = ("match", "mismatch", "noise", "error", "timeout", "skipped")
SHADOW_HEADER = COPY_MARK.encode("ascii")
MAX_NOISE_FIELDS = 256
MAX_DIFFERENCES_KEPT = 20
# How long a copy past its timeout may still hold its place in the budget, waiting for its call
# to end; longer than the WSGI bridge's default timeout (30 s), which ends a legacy call.
LINGER_SECONDS = 60.0
DRAIN_POLL_SECONDS = 0.1

# Hop-by-hop headers and headers that differ on every answer by design: never compared.
ALWAYS_IGNORED_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "date",
        "server",
        "content-length",  # bodies are compared as JSON where they are JSON, so lengths may differ
        "x-request-id",
        "x-gateway-side",
    }
)


@dataclass(slots=True)
class ShadowRoute:
    """What one shadow route keeps between requests: its comparator, budget and noise."""

    route: str
    options: ShadowOptions
    unsafe_allowed: bool
    comparator: Comparator = field(init=False)
    header_rules: ResolvedRules = field(init=False)
    noise: set[str] = field(default_factory=set)
    in_flight: int = 0

    def __post_init__(self) -> None:
        rules = self.options.request_headers
        # Environment references are read once, as the entry is loaded (validated then too).
        self.header_rules = rules.resolve(os.environ) if rules is not None else NO_RULES
        self.comparator = Comparator(
            self.options.headers,
            self.options.ignore_headers,
            self.options.ignore,
            ALWAYS_IGNORED_HEADERS,
        )


@dataclass(frozen=True, slots=True)
class Copy:
    """A request to copy to the other side, and the primary's answer to compare with."""

    route: ShadowRoute
    primary_side: Side
    scope: Scope
    body: bytes
    primary: Answer
    primary_duration: float
    entry: RouteEntry | None = None  # the copy's timeout on the new side is its entry's


class Redacts(Protocol):
    """Hides secret values of a difference (gateway.parity.redaction.Redactor)."""

    def difference(self, difference: Difference) -> dict[str, str]: ...


class NoRedaction:
    def difference(self, difference: Difference) -> dict[str, str]:
        return difference.as_dict()


# How the shadow policy serves the client: the entry's other policies (a fallback) and the side.
ServePrimary = Callable[[Exchange, Side, Receive, Send, Answer | None], Awaitable[Outcome]]


class ShadowRunner:
    def __init__(
        self,
        metrics: GatewayMetrics,
        serving: Serving,
        mismatches: deque[dict[str, Any]],
        rng: random.Random | None = None,
        mismatch_log: MismatchLog | None = None,
        ledger: Callable[[Copy, str, list[Difference]], None] | None = None,
        redactor: Redacts | None = None,
    ) -> None:
        self.metrics = metrics
        self.serving = serving
        self.mismatches = mismatches
        self.mismatch_log = mismatch_log or MismatchLog()
        self.ledger = ledger  # told every outcome (gateway.parity); must not block
        # The log and the admin API show differing values: a differing Set-Cookie or token must
        # not reach them any more than the ledger.
        self.redactor = redactor or NoRedaction()
        self._random = rng or random.Random()
        self._tasks: set[asyncio.Task[None]] = set()
        self._lingering: set[asyncio.Task[Any]] = set()  # past their timeout, outcome recorded

    def serve(
        self,
        exchange: Exchange,
        side: Side,
        receive: Receive,
        send: Send,
        route: ShadowRoute,
        serve: ServePrimary,
    ) -> Awaitable[Outcome]:
        """Serve the client from `side` with `serve`, and copy the request to the other side.

        The whole of a copy's life is here: the route's budget is taken before the primary is
        called and given back when the copy ends (or at once when there is no copy to send).
        """
        if not self.wanted(route, exchange.method):
            return serve(exchange, side, receive, send, None)
        return self._serve_and_copy(exchange, side, receive, send, route, serve)

    async def _serve_and_copy(
        self,
        exchange: Exchange,
        side: Side,
        receive: Receive,
        send: Send,
        route: ShadowRoute,
        serve: ServePrimary,
    ) -> Outcome:
        # The place is taken here, in the coroutine, so that its `finally` gives it back also
        # when the request is cancelled before the primary is called.
        if not self.take_place(route, side):
            return await serve(exchange, side, receive, send, None)
        answer = Answer(limit=route.options.max_body)
        copied = False
        try:  # from here on, every way out gives the budget's place back unless a copy took it
            buffered = await read_body(receive, route.options.max_body)
            outcome = await serve(exchange, side, buffered.replay(receive), send, answer)
            # The gateway's own answers (overload, timeout) say nothing of the primary: the
            # primary never answered, so there is nothing to compare, and no copy to send. Nor
            # when its answer went past max_body: that comparison is skipped whatever the copy
            # answers, and the copy would cost the other side (a write, with shadow_unsafe);
            # nor when legacy answered for a new side that failed (fallback): the other side
            # has just answered, for itself.
            usable = answer.status and not answer.truncated and not outcome.own
            if buffered.complete and usable and exchange.fallback_from is None:
                duration = time.perf_counter() - exchange.started
                scope, body = exchange.child_scope, buffered.body
                entry = exchange.entry
                self.start(Copy(route, side, scope, body, answer, duration, entry))
                copied = True
            else:
                self.metrics.shadow_comparisons.labels(route.route, "skipped", side).inc()
            return outcome
        finally:
            if not copied:
                self.release(route)

    def admit(self, route: ShadowRoute, method: str, primary: Side) -> bool:
        """Whether this request gets a copy; takes a place in the route's budget if so."""
        return self.wanted(route, method) and self.take_place(route, primary)

    def wanted(self, route: ShadowRoute, method: str) -> bool:
        """Whether the route copies this request, budget aside (its method, the sample)."""
        if method not in SAFE_METHODS and not route.unsafe_allowed:
            return False
        return route.options.sample >= 100 or self._random.random() * 100 < route.options.sample

    def take_place(self, route: ShadowRoute, primary: Side) -> bool:
        """Take a place in the route's budget of copies in flight, if one is free."""
        if route.in_flight >= route.options.concurrency:
            self.metrics.shadow_comparisons.labels(route.route, "skipped", primary).inc()
            return False
        route.in_flight += 1
        return True

    def release(self, route: ShadowRoute) -> None:
        route.in_flight -= 1

    def start(self, copy: Copy) -> None:
        """Run the copy in the background; the caller has already answered the client."""
        task = asyncio.get_running_loop().create_task(self._run(copy))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, timeout: float) -> None:
        """Let copies in flight finish (at shutdown), then cancel what is left.

        Copies past their timeout have recorded their outcome: they are not waited for, also
        when they get there while this waits (it looks again every DRAIN_POLL_SECONDS).
        """
        deadline = time.monotonic() + timeout
        while (waited := self._tasks - self._lingering) and time.monotonic() < deadline:
            left = deadline - time.monotonic()
            await asyncio.wait(waited, timeout=min(left, DRAIN_POLL_SECONDS))
        for task in self._tasks:
            task.cancel()
        self.mismatch_log.flush()

    async def _run(self, copy: Copy) -> None:
        try:
            await self._compare(copy)
        except Exception:
            logger.exception("shadow comparison failed on %s", copy.route.route)
            self.metrics.shadow_comparisons.labels(
                copy.route.route, "error", copy.primary_side
            ).inc()
        finally:
            self.release(copy.route)

    async def _compare(self, copy: Copy) -> None:
        route, primary_side, scope, body = copy.route, copy.primary_side, copy.scope, copy.body
        primary, primary_duration = copy.primary, copy.primary_duration
        options = route.options
        shadow_side = other(primary_side)
        # The primary's second run (noise) gets the request as the client sent it; the other
        # side gets it with the route's header rules applied (its own logins, say).
        rerun_scope = {**scope, "headers": [*scope["headers"], (SHADOW_HEADER, b"1")]}
        copy_scope = {
            **scope,
            "headers": [*route.header_rules.apply(scope["headers"]), (SHADOW_HEADER, b"1")],
        }
        again = scope["method"] in SAFE_METHODS and (
            self._random.random() * 100 < options.noise_sample
        )
        started = time.perf_counter()

        async def timed(side: Side) -> tuple[Answer, float]:
            side_scope = copy_scope if side == shadow_side else rerun_scope
            side_scope = {**side_scope, "state": dict(scope.get("state", {}))}
            answer = Answer(limit=options.max_body)
            await self.serving.copy(_copy_exchange(copy, side_scope), side, body, answer)
            return answer, time.perf_counter() - started

        calls = [asyncio.create_task(timed(shadow_side))]
        if again:
            calls.append(asyncio.create_task(timed(primary_side)))
        try:
            _, late = await asyncio.wait(calls, timeout=options.timeout)
            if late:
                self.metrics.shadow_comparisons.labels(route.route, "timeout", primary_side).inc()
                if self.ledger is not None:
                    self.ledger(copy, "timeout", [])
                await self._finish(late)
                return
        finally:
            for call in calls:
                call.cancel()  # only those still running: at shutdown's drain
        shadow, shadow_duration = calls[0].result()
        if again:
            self._learn_noise(route, primary, calls[1].result()[0])
        if primary.truncated or shadow.truncated:
            self.metrics.shadow_comparisons.labels(route.route, "skipped", primary_side).inc()
            return
        outcome, differences = self._outcome(route, primary, shadow)
        self.metrics.shadow_comparisons.labels(route.route, outcome, primary_side).inc()
        if self.ledger is not None:
            self.ledger(copy, outcome, differences)
        self.metrics.shadow_duration.labels(route.route, primary_side).observe(primary_duration)
        self.metrics.shadow_duration.labels(route.route, shadow_side).observe(shadow_duration)
        if outcome in ("mismatch", "error"):
            self._report(route, scope, primary_side, outcome, differences)

    async def _finish(self, late: set[asyncio.Task[tuple[Answer, float]]]) -> None:
        """Wait for calls past the copy's timeout to end, within LINGER_SECONDS.

        The copy keeps its place in the budget meanwhile: cancelling the wait would not end a
        WSGI call (a thread cannot be stopped), so the thread would stay busy while the budget
        let further copies take more, and the legacy side's own clients would find none free.
        The WSGI bridge ends such a call at its own timeout; an ASGI call is cancelled here.
        """
        this = asyncio.current_task()
        if this is not None:
            self._lingering.add(this)
        try:
            await asyncio.wait(late, timeout=LINGER_SECONDS)
        finally:
            self._lingering.discard(this)

    def _outcome(
        self, route: ShadowRoute, primary: Answer, shadow: Answer
    ) -> tuple[str, list[Difference]]:
        differences = route.comparator.differences(primary, shadow)
        if shadow.exception is not None and primary.exception is None:
            return "error", differences
        if not differences:
            return "match", differences
        if all(difference.noise_key in route.noise for difference in differences):
            return "noise", differences
        return "mismatch", [d for d in differences if d.noise_key not in route.noise]

    def _learn_noise(self, route: ShadowRoute, first: Answer, second: Answer) -> None:
        if first.truncated or second.truncated:
            return
        for difference in route.comparator.differences(first, second):
            if len(route.noise) < MAX_NOISE_FIELDS:
                route.noise.add(difference.noise_key)

    def _report(
        self,
        route: ShadowRoute,
        scope: Scope,
        primary_side: Side,
        outcome: str,
        differences: list[Difference],
    ) -> None:
        found = headers.get(scope["headers"], headers.REQUEST_ID)
        request_id = found.decode("latin-1") if found is not None else None
        record = {
            "time": time.time(),
            "event": "shadow_" + outcome,
            "route": route.route,
            "method": scope["method"],
            "path": scope["path"],
            "request_id": request_id,
            "primary": primary_side,
            "differences": [
                self.redactor.difference(d) for d in differences[:MAX_DIFFERENCES_KEPT]
            ],
            "more_differences": max(0, len(differences) - MAX_DIFFERENCES_KEPT),
        }
        self.mismatches.append(record)
        # The admin API keeps epoch seconds (the dashboard sorts on them); the log line has the
        # access log's ISO time instead, written by the event log.
        logged = {key: value for key, value in record.items() if key not in ("time", "event")}
        fields = [d.field for d in differences]
        self.mismatch_log.report(str(record["event"]), logged, fields, route.options.summary_every)


def shadow_route(entry: RouteEntry) -> ShadowRoute | None:
    """The state an entry with the shadow policy keeps between requests (None without it)."""
    options = entry.options
    policy = options.shadow_policy
    if policy is None:
        return None
    return ShadowRoute(entry.path, policy, options.shadow_unsafe)


def describe_shadow(state: EntryState | None) -> dict[str, Any] | None:
    """The shadow policy's options and what it learned, for the admin API."""
    shadow = state.get(ShadowRoute) if state is not None else None
    if shadow is None:
        return None
    return {
        **shadow.options.model_dump(),
        "unsafe_allowed": shadow.unsafe_allowed,
        "in_flight": shadow.in_flight,
        "noise_fields": sorted(shadow.noise),
    }


def with_shadow(
    described: dict[str, Any], entry: RouteEntry, state: EntryState | None
) -> dict[str, Any]:
    """A chooser's description, with its shadow policy's when the entry has one."""
    if entry.options.shadow is None:
        return described
    return {**described, "shadow": describe_shadow(state)}


def _copy_exchange(copy: Copy, scope: Scope) -> Exchange:
    found = headers.get(scope["headers"], headers.REQUEST_ID)
    request_id = found if found is not None else headers.new_request_id()
    started = time.perf_counter()
    exchange = Exchange(scope, scope, scope["method"], scope["path"], request_id, started)
    exchange.entry = copy.entry
    return exchange
