"""Shadow traffic: the other side gets a copy of a request once the client has its answer, and
the two answers are compared.

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
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.behaviours.compare import Answer, Comparator, Difference
from gateway.behaviours.copy_headers import (
    COPY_MARK,
    NO_RULES,
    RequestHeaderRules,
    ResolvedRules,
)
from gateway.behaviours.options import FROZEN, EntryOptions
from gateway.exchange import Exchange
from gateway.http import headers
from gateway.http.bodies import read_body
from gateway.observe.metrics import GatewayMetrics
from gateway.observe.mismatch_log import MismatchLog
from gateway.parity.redaction import Redactor
from gateway.routing.methods import SAFE_METHODS
from gateway.sides import SideName as Side

if TYPE_CHECKING:
    from gateway.behaviours.base import Context
    from gateway.control.route_state import EntryState
    from gateway.routing.table import RouteEntry

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


class ShadowOptions(BaseModel):
    """How a shadow route copies requests to the other side and compares the answers."""

    model_config = FROZEN
    sample: float = Field(100.0, ge=0, le=100, description="percentage of requests copied")
    timeout: float = Field(5.0, gt=0, le=300, description="seconds the copy may take")
    concurrency: int = Field(8, ge=1, le=1000, description="copies in flight at most")
    max_body: int = Field(1 << 20, ge=0, description="larger bodies are not compared")
    headers: tuple[str, ...] | None = Field(
        None, description="response headers compared (default: all but the ignored ones)"
    )
    ignore_headers: tuple[str, ...] = ()
    ignore: tuple[str, ...] = Field((), description="JSON paths ignored, like $.updated_at")
    noise_sample: float = Field(
        0.0, ge=0, le=100, description="percentage of copies that also run the primary twice"
    )
    request_headers: RequestHeaderRules | None = Field(
        None, description="headers of the copy dropped or set (the other side's own logins)"
    )
    summary_every: float = Field(
        60.0,
        ge=0,
        le=86400,
        description="seconds between summary lines of a repeated header-only mismatch "
        "(0: log each one)",
    )

    @field_validator("headers", "ignore_headers")
    @classmethod
    def _lower(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if value is None else tuple(name.lower() for name in value)

    @field_validator("ignore")
    @classmethod
    def _json_paths(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from gateway.behaviours.compare import parse_json_path

        for path in value:
            parse_json_path(path)  # raises ValueError with the reason
        return value


class ShadowEntryOptions(EntryOptions):
    target: Literal["shadow"]
    primary: Side = "legacy"
    shadow: ShadowOptions | None = None
    shadow_unsafe: bool = False
    modifiers = frozenset({"timeout"})  # the primary's; fallback and guard need a canary
    rolls_out = True

    @model_validator(mode="after")
    def _rollout_has_a_parity_gate(self) -> ShadowEntryOptions:
        # A shadow entry's rollout starts once the comparisons agree: without a gate it would
        # become a canary on the first pass, unjudged.
        if self.rollout is not None and self.rollout.min_match_ratio is None:
            raise ValueError("a rollout from target 'shadow' needs rollout.min_match_ratio")
        if self.rollout is not None and self.primary != "legacy":
            raise ValueError("a rollout from target 'shadow' needs primary: legacy")
        return self

    @property
    def serves_new(self) -> bool:
        return self.primary == "new"

    @property
    def moved(self) -> bool:
        return self.primary == "new"

    @property
    def reaches_new(self) -> bool:
        return True


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


def replay_receive(body: bytes, done: asyncio.Event) -> Receive:
    """A receive for a copied request: the whole body, then a disconnect once the call is over."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    return receive


def capturing_send(answer: Answer) -> Callable[[Message], Awaitable[None]]:
    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            answer.status = message["status"]
            answer.headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            answer.add_body(message.get("body", b""))

    return send


async def call_for_answer(app: ASGIApp, scope: Scope, body: bytes, limit: int) -> Answer:
    answer = Answer(limit=limit)
    done = asyncio.Event()
    try:
        await app(scope, replay_receive(body, done), capturing_send(answer))
    except Exception as exc:
        answer.exception = exc
    finally:
        done.set()
    return answer


@dataclass(frozen=True, slots=True)
class Copy:
    """A request to copy to the other side, and the primary's answer to compare with."""

    route: ShadowRoute
    primary_side: Side
    scope: Scope
    body: bytes
    primary: Answer
    primary_duration: float


class ShadowRunner:
    def __init__(
        self,
        metrics: GatewayMetrics,
        apps: dict[Side, ASGIApp],
        mismatches: deque[dict[str, Any]],
        rng: random.Random | None = None,
        mismatch_log: MismatchLog | None = None,
        ledger: Callable[[Copy, str, list[Difference]], None] | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        self.metrics = metrics
        self.apps = apps
        self.mismatches = mismatches
        self.mismatch_log = mismatch_log or MismatchLog()
        self.ledger = ledger  # told every outcome (gateway.parity); must not block
        # The log and the admin API show differing values: a differing Set-Cookie or token must
        # not reach them any more than the ledger.
        self.redactor = redactor or Redactor()
        self._random = rng or random.Random()
        self._tasks: set[asyncio.Task[None]] = set()
        self._lingering: set[asyncio.Task[Any]] = set()  # past their timeout, outcome recorded

    def admit(self, route: ShadowRoute, method: str) -> bool:
        """Whether this request gets a copy; takes a place in the route's budget if so."""
        if method not in SAFE_METHODS and not route.unsafe_allowed:
            return False
        if route.options.sample < 100 and self._random.random() * 100 >= route.options.sample:
            return False
        if route.in_flight >= route.options.concurrency:
            self.metrics.shadow_comparisons.labels(route.route, "skipped").inc()
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
            self.metrics.shadow_comparisons.labels(copy.route.route, "error").inc()
        finally:
            self.release(copy.route)

    async def _compare(self, copy: Copy) -> None:
        route, primary_side, scope, body = copy.route, copy.primary_side, copy.scope, copy.body
        primary, primary_duration = copy.primary, copy.primary_duration
        options = route.options
        shadow_side: Side = "new" if primary_side == "legacy" else "legacy"
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
            answer = await call_for_answer(self.apps[side], side_scope, body, options.max_body)
            return answer, time.perf_counter() - started

        calls = [asyncio.create_task(timed(shadow_side))]
        if again:
            calls.append(asyncio.create_task(timed(primary_side)))
        try:
            _, late = await asyncio.wait(calls, timeout=options.timeout)
            if late:
                self.metrics.shadow_comparisons.labels(route.route, "timeout").inc()
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
            self.metrics.shadow_comparisons.labels(route.route, "skipped").inc()
            return
        outcome, differences = self._outcome(route, primary, shadow)
        self.metrics.shadow_comparisons.labels(route.route, outcome).inc()
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


class Shadow:
    """`target: shadow`: the primary answers; the other side gets a copy, compared afterwards.

    The whole of a copy's life is here: the route's budget is taken before the primary is
    called and given back when the copy ends (or at once when there is no copy to send).
    """

    name: ClassVar[str] = "shadow"
    options: ClassVar[type[EntryOptions]] = ShadowEntryOptions

    def __init__(self, context: Context) -> None:
        self.serving = context.serving
        self.runner = context.shadow
        self.metrics = context.metrics

    async def __call__(self, exchange: Exchange, receive: Receive, send: Send) -> None:
        entry, state = exchange.entry, exchange.state
        assert entry is not None and isinstance(entry.options, ShadowEntryOptions)
        primary: Side = entry.options.primary
        route = state.shadow if state is not None else None
        if route is None or not self.runner.admit(route, exchange.method):
            await self.serving.serve(exchange, primary, receive, send)
            return
        answer = Answer(limit=route.options.max_body)
        copied = False
        try:  # from here on, every way out gives the budget's place back unless a copy took it
            buffered = await read_body(receive, route.options.max_body)
            outcome = await self.serving.serve(
                exchange, primary, buffered.replay(receive), send, capture=answer
            )
            # The gateway's own answers (overload, timeout) say nothing of the primary: the
            # primary never answered, so there is nothing to compare, and no copy to send. Nor
            # when its answer went past max_body: that comparison is skipped whatever the copy
            # answers, and the copy would cost the other side (a write, with shadow_unsafe).
            usable = answer.status and not answer.truncated and not outcome.own
            if buffered.complete and usable:
                duration = time.perf_counter() - exchange.started
                self.runner.start(
                    Copy(route, primary, exchange.child_scope, buffered.body, answer, duration)
                )
                copied = True
            else:
                self.metrics.shadow_comparisons.labels(route.route, "skipped").inc()
        finally:
            if not copied:
                self.runner.release(route)

    @staticmethod
    def summary(entry: RouteEntry) -> str:
        assert isinstance(entry.options, ShadowEntryOptions)
        return f"shadow ({entry.options.primary} answers)"

    @staticmethod
    def describe(entry: RouteEntry, state: EntryState | None) -> dict[str, Any]:
        assert isinstance(entry.options, ShadowEntryOptions)
        shadow = state.shadow if state is not None else None
        described = None
        if shadow is not None:
            described = {
                **shadow.options.model_dump(),
                "unsafe_allowed": shadow.unsafe_allowed,
                "in_flight": shadow.in_flight,
                "noise_fields": sorted(shadow.noise),
            }
        return {"primary": entry.options.primary, "shadow": described}


def shadow_route(entry: RouteEntry) -> ShadowRoute | None:
    """The state a shadow entry keeps between requests (None for other targets)."""
    options = entry.options
    if not isinstance(options, ShadowEntryOptions):
        return None
    return ShadowRoute(entry.path, options.shadow or ShadowOptions(), options.shadow_unsafe)
