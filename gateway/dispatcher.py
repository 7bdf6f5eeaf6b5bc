"""The gateway's ASGI application: picks a side per request from the route table in force.

Per request: the path is put in its canonical form (or refused), the table read once (so the
request keeps that table to its end), the entry matched, and the entry's target applied:
`legacy` or `new` call one side; `canary` picks one by weight; `shadow` answers from the primary
and copies the request to the other side afterwards; `fallback: legacy` lets legacy answer what
the new side failed; a guard may have rolled the route back to legacy. Every answer is counted
in the metrics under the route's template and the side that gave it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from prometheus_client import CollectorRegistry
from starlette.types import Message, Receive, Scope, Send

from gateway import headers
from gateway.access_log import log_request
from gateway.admin import AdminAPI, is_admin_path, token_matches
from gateway.bodies import read_body
from gateway.canary import CanaryChooser
from gateway.compare import Answer
from gateway.error_shape import ErrorShape
from gateway.guide.service import Guide, GuideUnavailable
from gateway.lifespan import ChildLifespan
from gateway.metrics import (
    REJECTED_ROUTE,
    UNMATCHED_ROUTE,
    GatewayMetrics,
    exposition,
    method_label,
)
from gateway.paths import PathRejected, canonicalize
from gateway.reloading import LiveRouteTable
from gateway.responses import Refused, send_json
from gateway.route_options import Side as SideName
from gateway.route_state import EntryState, RouteStates
from gateway.shadow import Copy, ShadowRunner
from gateway.sides import Side
from gateway.table import RouteEntry

logger = logging.getLogger("gateway")

GATEWAY_SIDE = "gateway"  # the side label of answers the gateway gives itself
HEALTH_PATH = "/_gateway/health"
# The route label (access log) of the gateway's own endpoints: the metrics and the admin API.
GATEWAY_ROUTE = "__gateway__"
# RFC 9110's idempotent methods: sending one again to legacy after the new side failed has the
# same effect as sending it once.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
SHADOW_DRAIN_SECONDS = 5.0


@dataclass(slots=True)
class Exchange:
    """One request's facts, passed between the steps that serve it."""

    scope: Scope  # as the server gave it
    child_scope: Scope  # as the sides get it: canonical path, request id header
    method: str
    path: str
    request_id: bytes
    started: float
    entry: RouteEntry | None = None
    state: EntryState | None = None
    fallback_from: str | None = None


@dataclass(slots=True)
class _Outcome:
    status: int = 0  # sent to the client; 0 while nothing was
    complete: bool = False  # the last body message was sent
    failed: bool = False  # the side failed after its answer had started: the client saw it cut
    own: bool = False  # the gateway answered itself (Refused, timeout): the side never did

    @property
    def guard_status(self) -> int:
        """The status the guard judges: an answer cut short is a server error whatever began it."""
        return 500 if self.failed else self.status


class _Failed(Exception):
    """The new side failed before answering, in a way legacy may answer instead."""

    def __init__(self, reason: str, status: int) -> None:
        self.reason = reason
        self.status = status


class Gateway:
    def __init__(
        self,
        *,
        live: LiveRouteTable,
        sides: dict[str, Side],
        metrics: GatewayMetrics,
        registry: CollectorRegistry,
        states: RouteStates,
        canary: CanaryChooser,
        side_header: bool = True,
        access_log: bool = True,
        metrics_path: str = "/metrics",
        watch_routes: bool = True,
        fallback_body_limit: int = 1 << 20,
        shadow_history: int = 100,
        admin_token: str | None = None,
        metrics_token: str | None = None,
        new_timeout: float = 30.0,
        error_shape: ErrorShape | None = None,
        health_checks: tuple[Callable[[], str | None], ...] = (),
        guide: Guide | None = None,
        openapi_path: str | None = None,
    ) -> None:
        self.live = live
        self.sides = sides
        self.metrics = metrics
        self.registry = registry
        self.states = states
        self.canary = canary
        self.side_header = side_header
        self.access_log = access_log
        self.metrics_path = metrics_path
        self.watch_routes = watch_routes
        self.fallback_body_limit = fallback_body_limit
        self.mismatches: deque[dict[str, Any]] = deque(maxlen=shadow_history)
        self.shadow = ShadowRunner(
            metrics, {"legacy": sides["legacy"].app, "new": sides["new"].app}, self.mismatches
        )
        self.metrics_token = metrics_token
        self.admin = AdminAPI(
            token=admin_token,
            live=live,
            states=states,
            mismatches=self.mismatches,
            registry=registry,
            guide=guide,
        )
        self.guide = guide
        # Where API consumers get the merged OpenAPI document without a token (None: nowhere).
        self.openapi_path = openapi_path if guide is not None else None
        self.new_timeout = new_timeout
        self.error_shape = error_shape or ErrorShape()
        # Each returns why the process cannot serve (e.g. WSGI threads stuck at their cap), or None.
        self.health_checks = health_checks
        self.draining = False
        self._child_lifespan = ChildLifespan(sides["new"].app, "the new app")
        self._stop_background: list[Callable[[], object]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)

    # --- choosing ---------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        method: str = scope["method"]
        request_id = headers.incoming_request_id(scope["headers"]) or headers.new_request_id()
        try:
            path, child_scope = _canonical_scope(scope)
        except PathRejected as exc:
            # Logged as sent, escaped (the access log writes ASCII): what was refused matters.
            raw = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
            exchange = Exchange(scope, scope, method, _shown(raw), request_id, started)
            refusal = Refused(400, "bad_path", str(exc))
            status = await self._refuse(send, refusal, request_id)
            self._record(exchange, REJECTED_ROUTE, GATEWAY_SIDE, status)
            return
        if (
            path == HEALTH_PATH
            or (path == self.metrics_path and self.metrics_path)
            or is_admin_path(path)
            or path == self.openapi_path
        ):
            own = Exchange(scope, scope, method, path, request_id, started)
            await self._serve_own(own, receive, send)
            return

        child_scope["headers"] = headers.with_headers(
            scope["headers"], [(headers.REQUEST_ID, request_id)]
        )
        exchange = Exchange(scope, child_scope, method, path, request_id, started)

        table = self.live.table  # read once: this request keeps this table to its end
        entry = table.match(path, method)
        if entry is None:
            await self._serve(exchange, table.default, receive, send)
            return
        exchange.entry = entry
        exchange.state = state = self.states.get(entry)
        target = self.states.effective_target(state, entry)
        if target == "shadow":
            await self._serve_shadowed(exchange, receive, send)
            return
        side: SideName
        if target == "canary":
            side = self.canary.choose(entry.options, scope)
        else:
            side = target  # "legacy" or "new"
        if side == "new" and entry.options.fallback and method in IDEMPOTENT_METHODS:
            await self._serve_with_fallback(exchange, receive, send)
        else:
            await self._serve(exchange, side, receive, send)

    # --- serving ----------------------------------------------------------------------------

    async def _serve(
        self,
        exchange: Exchange,
        side_name: SideName,
        receive: Receive,
        send: Send,
        capture: Answer | None = None,
    ) -> _Outcome:
        """Let one side answer; count it. Returns what was sent."""
        side = self.sides[side_name]
        started = time.perf_counter()
        outcome = _Outcome()
        try:
            await self._call(exchange, side, receive, send, outcome, capture)
        finally:
            self._account(exchange, side, outcome, started)
        return outcome

    async def _call(
        self,
        exchange: Exchange,
        side: Side,
        receive: Receive,
        send: Send,
        outcome: _Outcome,
        capture: Answer | None = None,
        refuse_5xx: bool = False,
    ) -> None:
        """Call a side with the gateway's headers added; a failure before any answer is a 500.

        The status sent is left in `outcome`, also when the side raises. With `refuse_5xx`, a
        5xx answer, a timeout or an exception raised before answering is not sent but raised
        as _Failed, so that legacy can answer instead. The new side has until its timeout to
        start answering; once it has, a slow body is the client's to wait for.
        """
        extra: headers.Headers = [(headers.REQUEST_ID, exchange.request_id)]
        if self.side_header:
            extra.append((headers.SIDE, side.name.encode("ascii")))
        refused = 0
        deadline: asyncio.Timeout | None = None

        async def send_with_headers(message: Message) -> None:
            nonlocal refused
            kind = message["type"]
            if kind == "http.response.start":
                if deadline is not None:
                    deadline.reschedule(None)
                if refuse_5xx and message["status"] >= 500:
                    refused = message["status"]
                    return
                outcome.status = message["status"]
                message["headers"] = headers.with_headers(message.get("headers", ()), extra)
                if capture is not None:
                    capture.status, capture.headers = outcome.status, list(message["headers"])
            elif refused:
                return  # the body of an answer that will not be sent
            elif kind == "http.response.body":
                if capture is not None:
                    capture.add_body(message.get("body", b""))
                outcome.complete = not message.get("more_body", False)
            await send(message)

        timeout = self._timeout(exchange) if side.name == "new" else None
        in_progress = self.metrics.running(side.name)
        in_progress.inc()
        try:
            async with asyncio.timeout(timeout) as deadline:
                await side.app(exchange.child_scope, receive, send_with_headers)
        except TimeoutError as exc:
            if deadline is None or not deadline.expired() or outcome.status:
                await self._failed(exchange, side, send, outcome, capture, refuse_5xx, exc)
                return
            if refuse_5xx:
                raise _Failed("timeout", 504) from None
            detail = f"the {side.name} side did not start its answer within {timeout:g} s"
            await self._refused(
                exchange, send, outcome, Refused(504, "timeout", detail, side=side.name)
            )
        except Refused as refusal:
            if outcome.status:
                outcome.failed = True
                raise
            await self._refused(exchange, send, outcome, refusal)
        except Exception as exc:
            await self._failed(exchange, side, send, outcome, capture, refuse_5xx, exc)
        finally:
            in_progress.dec()
        if refused:
            raise _Failed("status", refused)

    async def _failed(
        self,
        exchange: Exchange,
        side: Side,
        send: Send,
        outcome: _Outcome,
        capture: Answer | None,
        refuse_5xx: bool,
        exc: Exception,
    ) -> None:
        """A side raised: log it, and answer 500 if nothing was answered yet."""
        if outcome.complete:
            # Starlette re-raises what it already answered with a 500 so that servers log
            # it; the client has its whole answer, so log it here and keep the connection.
            logger.exception(
                "the %s side failed on %s %s", side.name, exchange.method, exchange.path
            )
            if capture is not None:
                capture.exception = exc
            return
        if outcome.status:
            outcome.failed = True  # the client gets a cut answer: counted as failed
            raise exc  # the response has started: the server closes the connection
        if refuse_5xx:
            raise _Failed("exception", 500) from exc
        logger.exception("the %s side failed on %s %s", side.name, exchange.method, exchange.path)
        refusal = Refused(500, "internal_error", f"the {side.name} side failed", side=side.name)
        outcome.status = await self._refuse(send, refusal, exchange.request_id, side.name)
        if capture is not None:
            capture.status, capture.exception = 500, exc

    async def _refused(
        self, exchange: Exchange, send: Send, outcome: _Outcome, refusal: Refused
    ) -> None:
        outcome.own = True
        outcome.status = await self._refuse(send, refusal, exchange.request_id)

    def _timeout(self, exchange: Exchange) -> float:
        entry = exchange.entry
        if entry is not None and entry.options.timeout is not None:
            return entry.options.timeout
        return self.new_timeout

    async def _serve_with_fallback(self, exchange: Exchange, receive: Receive, send: Send) -> None:
        buffered = await read_body(receive, self.fallback_body_limit)
        if not buffered.complete:  # too large to send twice, or the client left
            await self._serve(exchange, "new", buffered.replay(receive), send)
            return
        new = self.sides["new"]
        started = time.perf_counter()
        outcome = _Outcome()
        try:
            await self._call(
                exchange, new, buffered.replay(receive), send, outcome, refuse_5xx=True
            )
        except _Failed as failure:
            outcome.status = failure.status
            self._account(exchange, new, outcome, started)
            assert exchange.entry is not None
            self.metrics.fallbacks.labels(exchange.entry.path, failure.reason).inc()
            exchange.fallback_from = "new"
            await self._serve(exchange, "legacy", buffered.replay(receive), send)
            return
        except BaseException:
            self._account(exchange, new, outcome, started)
            raise
        self._account(exchange, new, outcome, started)

    async def _serve_shadowed(self, exchange: Exchange, receive: Receive, send: Send) -> None:
        entry, state = exchange.entry, exchange.state
        assert entry is not None
        primary: SideName = entry.options.primary
        route = state.shadow if state is not None else None
        if route is None or not self.shadow.admit(route, exchange.method):
            await self._serve(exchange, primary, receive, send)
            return
        buffered = await read_body(receive, route.options.max_body)
        answer = Answer(limit=route.options.max_body)
        copied = False
        try:
            outcome = await self._serve(
                exchange, primary, buffered.replay(receive), send, capture=answer
            )
            # The gateway's own answers (overload, timeout) say nothing of the primary: the
            # primary never answered, so there is nothing to compare, and no copy to send.
            if buffered.complete and answer.status and not outcome.own:
                duration = time.perf_counter() - exchange.started
                self.shadow.start(
                    Copy(route, primary, exchange.child_scope, buffered.body, answer, duration)
                )
                copied = True
            else:
                self.metrics.shadow_comparisons.labels(route.route, "skipped").inc()
        finally:
            if not copied:
                self.shadow.release(route)

    # --- accounting ----------------------------------------------------------------------------

    def _route(self, exchange: Exchange, side: Side) -> str:
        if exchange.entry is not None:
            return exchange.entry.path
        return side.route_of(exchange.child_scope) or UNMATCHED_ROUTE

    def _account(self, exchange: Exchange, side: Side, outcome: _Outcome, started: float) -> None:
        """Count one side's answer: the guard, the metrics and the access log, for every path.

        `started` is when this side was called. The guard judges the side's own latency; the
        metrics and the log measure from the request's start, except after a fallback, where
        legacy's latency is its own and not the failed attempt's too.
        """
        name: SideName = "new" if side.name == "new" else "legacy"
        self._observed(exchange, name, outcome.guard_status, time.perf_counter() - started)
        since = started if exchange.fallback_from is not None else None
        route = self._route(exchange, side)
        self._record(exchange, route, side.name, outcome.status, since, outcome.failed)

    def _observed(self, exchange: Exchange, side: SideName, status: int, duration: float) -> None:
        state = exchange.state
        if state is None or state.guard is None:
            return
        self.states.observed(state, state.guard.observe(side, status, duration))

    def _record(
        self,
        exchange: Exchange,
        route: str,
        side: str,
        status: int,
        since: float | None = None,
        failed: bool = False,
    ) -> None:
        """Count one answer; its duration runs from `since` (default: the request's start)."""
        duration = time.perf_counter() - (since if since is not None else exchange.started)
        method = method_label(exchange.method)
        self.metrics.count(route, side, method, str(status), duration)
        if failed:
            self.metrics.failed_responses.labels(route, side, method).inc()
        if self.access_log:
            self._log(exchange, route, side, status, duration, failed)

    def _log(
        self,
        exchange: Exchange,
        route: str,
        side: str,
        status: int,
        duration: float,
        failed: bool = False,
    ) -> None:
        client = exchange.scope.get("client")
        log_request(
            request_id=exchange.request_id.decode("ascii"),
            method=exchange.method,
            path=exchange.path,
            route=route,
            side=side,
            status=status,
            duration=duration,
            client=f"{client[0]}:{client[1]}" if client else None,
            target=exchange.entry.target if exchange.entry is not None else None,
            fallback_from=exchange.fallback_from,
            failed=failed,
        )

    # --- the gateway's own answers ------------------------------------------------------------

    async def _refuse(
        self, send: Send, refusal: Refused, request_id: bytes, side: str = GATEWAY_SIDE
    ) -> int:
        """Answer in the deployment's error shape; `side` is the X-Gateway-Side value."""
        body = self.error_shape.render(
            refusal.status, refusal.error, refusal.detail, refusal.side, request_id.decode("ascii")
        )
        response_headers: headers.Headers = [*refusal.headers, (headers.REQUEST_ID, request_id)]
        if self.side_header:
            response_headers.append((headers.SIDE, side.encode("ascii")))
        return await send_json(send, refusal.status, body, response_headers)

    async def _serve_own(self, exchange: Exchange, receive: Receive, send: Send) -> None:
        """The gateway's own endpoints: health, metrics, the admin API and dashboard.

        They carry the request id and `X-Gateway-Side: gateway` like every answer. The admin
        API is in the access log; the health probe and metrics scrapes are not (an orchestrator
        and Prometheus call them every few seconds) and none are in the request metrics.
        """
        extra: headers.Headers = [(headers.REQUEST_ID, exchange.request_id)]
        if self.side_header:
            extra.append((headers.SIDE, GATEWAY_SIDE.encode("ascii")))
        status = 0

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = headers.with_headers(message.get("headers", ()), extra)
            await send(message)

        if exchange.path == HEALTH_PATH:
            await self._serve_health(send_with_headers)
        elif exchange.path == self.metrics_path:
            await self._serve_metrics(exchange.scope, send_with_headers)
        elif exchange.path == self.openapi_path:
            await self._serve_openapi(send_with_headers)
            if self.access_log:
                duration = time.perf_counter() - exchange.started
                self._log(exchange, GATEWAY_ROUTE, GATEWAY_SIDE, status, duration)
        else:
            await self.admin(exchange.scope, receive, send_with_headers, exchange.path)
            if self.access_log:
                duration = time.perf_counter() - exchange.started
                self._log(exchange, GATEWAY_ROUTE, GATEWAY_SIDE, status, duration)

    async def _serve_health(self, send: Send) -> None:
        """200 while this process can serve; 503 (with the reasons) when it is draining or
        stuck, so that a load balancer stops sending to it and an orchestrator restarts it."""
        problems = [problem for check in self.health_checks if (problem := check())]
        if self.draining:
            problems.insert(0, "draining: the process is shutting down")
        body = {"status": "unhealthy" if problems else "ok", "problems": problems}
        await send_json(send, 503 if problems else 200, body, [(b"cache-control", b"no-store")])

    async def _serve_openapi(self, send: Send) -> None:
        assert self.guide is not None  # openapi_path is None without a guide
        try:
            document = await self.guide.openapi()
        except GuideUnavailable as exc:
            body = {"error": "openapi_unavailable", "detail": str(exc)}
            await send_json(send, 503, body, [(b"cache-control", b"no-store")])
            return
        await send_json(send, 200, document, [(b"cache-control", b"no-cache")])

    async def _serve_metrics(self, scope: Scope, send: Send) -> None:
        if self.metrics_token is not None and not token_matches(
            self.metrics_token, scope["headers"]
        ):
            refusal = {"error": "unauthorized", "detail": "Send 'Authorization: Bearer <token>'."}
            await send_json(send, 401, refusal)
            return
        accept = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"accept"), None)
        body, content_type = exposition(self.registry, accept)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", content_type.encode("latin-1")),
                    (b"content-length", str(len(body)).encode("ascii")),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send(
            {"type": "http.response.body", "body": body if scope["method"] != "HEAD" else b""}
        )

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        # WSGI cannot serve WebSockets, so only routes served by the new side accept them.
        try:
            path, child_scope = _canonical_scope(scope)
        except PathRejected:
            await send({"type": "websocket.close", "code": 1008})
            return
        table = self.live.table
        entry = table.match(path, "GET")
        target = self.states.effective_target(self.states.get(entry), entry) if entry else None
        if (target or table.default) != "new":
            await send({"type": "websocket.close", "code": 1000})
            return
        await self.sides["new"].app(child_scope, receive, send)

    # --- lifespan -----------------------------------------------------------------------------

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        await receive()  # lifespan.startup
        try:
            await self._child_lifespan.startup(scope)
            self._start_background()
        except Exception as exc:
            logger.exception("startup failed")
            await send({"type": "lifespan.startup.failed", "message": str(exc)})
            return
        await send({"type": "lifespan.startup.complete"})
        await receive()  # lifespan.shutdown
        self.draining = True
        for stop in self._stop_background:
            stop()
        await self.shadow.drain(SHADOW_DRAIN_SECONDS)
        await self._child_lifespan.shutdown()
        await send({"type": "lifespan.shutdown.complete"})

    def _start_background(self) -> None:
        self._stop_background.append(self.live.install_signal_handler())
        if self.watch_routes:
            task = asyncio.create_task(self.live.watch(), name="gateway-routes-watcher")
            self._stop_background.append(partial(task.cancel, None))


def _canonical_scope(scope: Scope) -> tuple[str, Scope]:
    """The canonical path (below the root path) and a copy of `scope` that carries it.

    Raises PathRejected for a path the gateway does not route (see gateway.paths).
    """
    root_path: str = scope.get("root_path", "")
    raw_root = root_path.encode("utf-8")
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
    if raw_root and raw_path.startswith(raw_root):
        raw_path = raw_path[len(raw_root) :]
    canonical = canonicalize(raw_path)
    child_scope = dict(scope)
    child_scope["path"] = root_path + canonical.path
    child_scope["raw_path"] = raw_root + canonical.raw
    return canonical.path, child_scope


def _shown(raw_path: bytes) -> str:
    """A raw path as text for the log: UTF-8 where it decodes, escapes where it does not."""
    return raw_path.decode("utf-8", "backslashreplace")
