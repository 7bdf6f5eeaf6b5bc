"""The gateway's ASGI application: one route table in force, one decision per request.

A request's path is put in its canonical form (or refused), the gateway's own endpoints are
answered, the table in force is read once (the request keeps that table to its end), the entry
matched, and the entry's chooser serves it under its policies (gateway.behaviours). A path no
entry matches goes to the table's default side. Counting happens in one place (the outcome bus,
gateway.pipeline.outcomes), whichever way a request went.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.behaviours.registry import Behaviour
from gateway.behaviours.shadow import SHADOW_HEADER
from gateway.control.reloading import LiveRouteTable
from gateway.control.route_state import RouteStates
from gateway.http import headers
from gateway.http.proxies import ForwardedClient
from gateway.http.responses import Refused
from gateway.observe.metrics import REJECTED_ROUTE
from gateway.own.endpoints import OwnEndpoints
from gateway.pipeline.caller import GATEWAY_SIDE
from gateway.pipeline.exchange import Exchange
from gateway.pipeline.outcomes import OutcomeBus
from gateway.pipeline.serving import Serving
from gateway.routing.paths import PathRejected, canonicalize, is_canonical
from gateway.sides import Side, SideName, is_side

# Only the gateway marks a shadow copy: the mark a client sends is dropped before either side
# sees the request, so an app that trusts it (to skip a copy's side effects, say) cannot be
# made to skip a real request's.
GATEWAY_ONLY_HEADERS = (SHADOW_HEADER,)
# What the sides get of the client's headers leaves these out (the gateway sets its request id).
_REPLACED = frozenset((headers.REQUEST_ID, *GATEWAY_ONLY_HEADERS))

HTTPHandler = Callable[[Scope, Receive, Send], Awaitable[object]]
# Serves an HTTP request around the dispatcher's own handling (tracing's SERVER span).
AroundHTTP = Callable[[Scope, Receive, Send, HTTPHandler], Awaitable[None]]


class Gateway:
    def __init__(
        self,
        *,
        live: LiveRouteTable,
        states: RouteStates,
        behaviours: dict[str, Behaviour],
        serving: Serving,
        own: OwnEndpoints,
        lifespan: ASGIApp,
        forwarded: ForwardedClient | None = None,
        around_http: AroundHTTP | None = None,
    ) -> None:
        self.live = live
        self.states = states
        self.behaviours = behaviours
        self.serving = serving
        self.own = own
        self.lifespan = lifespan
        self.forwarded = forwarded  # None: no proxy is trusted
        self.around_http = around_http  # None: tracing is off

    @property
    def bus(self) -> OutcomeBus:
        return self.serving.bus

    @property
    def sides(self) -> dict[SideName, Side]:
        return self.serving.sides

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.forwarded is not None and scope["type"] != "lifespan":
            self.forwarded.apply(scope)  # first, so that everything sees the client's address
        if scope["type"] == "http":
            if self.around_http is None:
                await self._http(scope, receive, send)
            else:
                await self.around_http(scope, receive, send, self._http)
        elif scope["type"] == "lifespan":
            await self.lifespan(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)

    def _http(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[object]:
        # Not a coroutine itself: it decides, then hands back the coroutine that serves, so
        # the gateway adds one frame fewer to every resumption of the app's stack.
        started = time.perf_counter()
        method: str = scope["method"]
        request_id = headers.incoming_request_id(scope["headers"]) or headers.new_request_id()
        try:
            path, child_scope = _canonical_scope(scope)
        except PathRejected as exc:
            return self._refuse_path(scope, method, request_id, started, exc, send)
        exchange = Exchange(scope, child_scope, method, path, request_id, started)
        if self.own.owns(path):
            exchange.child_scope = scope
            return self.own(exchange, receive, send)
        child_scope["headers"] = headers.replaced(
            scope["headers"], [(headers.REQUEST_ID, request_id)], _REPLACED
        )
        table = self.live.table  # read once: this request keeps this table to its end
        entry = table.match(path, method)
        if entry is None:
            return self.serving.plain(exchange, table.default, receive, send)
        exchange.entry = entry
        exchange.state = state = self.states.get(entry)
        behaviour = self.behaviours[state.target() if state is not None else entry.target]
        return behaviour(exchange, receive, send)

    async def _refuse_path(
        self,
        scope: Scope,
        method: str,
        request_id: bytes,
        started: float,
        error: PathRejected,
        send: Send,
    ) -> None:
        # Logged as sent, escaped (the access log writes ASCII): what was refused matters.
        raw = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
        exchange = Exchange(scope, scope, method, _shown(raw), request_id, started)
        refusal = Refused(400, "bad_path", str(error))
        status = await self.serving.caller.refuse(send, refusal, request_id)
        self.bus.record(exchange, REJECTED_ROUTE, GATEWAY_SIDE, status)

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
        # Only an entry sent whole to one side names it (canary, match and shadow do not).
        name = target or table.default
        side = self.sides[name] if is_side(name) else None
        if side is None or not side.takes_websockets:
            await send({"type": "websocket.close", "code": 1000})
            return
        child_scope["headers"] = headers.with_headers(
            scope["headers"], [], drop=GATEWAY_ONLY_HEADERS
        )
        await side.app(child_scope, receive, send)


def _canonical_scope(scope: Scope) -> tuple[str, Scope]:
    """The canonical path (below the root path) and a copy of `scope` that carries it.

    Raises PathRejected for a path the gateway does not route (see gateway.routing.paths).
    """
    root_path: str = scope.get("root_path", "")
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
    child_scope = dict(scope)
    if not root_path and is_canonical(raw_path):  # most requests: nothing to change
        path = raw_path.decode("ascii")
        child_scope["path"] = path
        child_scope["raw_path"] = raw_path
        return path, child_scope
    raw_root = root_path.encode("utf-8")
    if raw_root and raw_path.startswith(raw_root):
        raw_path = raw_path[len(raw_root) :]
    canonical = canonicalize(raw_path)
    child_scope["path"] = root_path + canonical.path
    child_scope["raw_path"] = raw_root + canonical.raw
    return canonical.path, child_scope


def _shown(raw_path: bytes) -> str:
    """A raw path as text for the log: UTF-8 where it decodes, escapes where it does not."""
    return raw_path.decode("utf-8", "backslashreplace")
