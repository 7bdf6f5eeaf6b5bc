"""The gateway's ASGI application: picks a side per request from the route table in force."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from prometheus_client import CollectorRegistry
from starlette.types import Message, Receive, Scope, Send

from gateway import headers
from gateway.access_log import log_request
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
from gateway.sides import Side

logger = logging.getLogger("gateway")

GATEWAY_SIDE = "gateway"  # the side label of answers the gateway gives itself


class Gateway:
    def __init__(
        self,
        *,
        live: LiveRouteTable,
        sides: dict[str, Side],
        metrics: GatewayMetrics,
        registry: CollectorRegistry,
        side_header: bool = True,
        access_log: bool = True,
        metrics_path: str = "/metrics",
        watch_routes: bool = True,
    ) -> None:
        self.live = live
        self.sides = sides
        self.metrics = metrics
        self.registry = registry
        self.side_header = side_header
        self.access_log = access_log
        self.metrics_path = metrics_path
        self.watch_routes = watch_routes
        self._child_lifespan = ChildLifespan(sides["new"].app, "the new app")
        self._stop_background: list[Callable[[], object]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        method: str = scope["method"]
        request_id = headers.incoming_request_id(scope["headers"]) or headers.new_request_id()
        root_path: str = scope.get("root_path", "")
        raw_root = root_path.encode("utf-8")
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
        if raw_root and raw_path.startswith(raw_root):
            raw_path = raw_path[len(raw_root) :]
        try:
            canonical = canonicalize(raw_path)
        except PathRejected as exc:
            status = await self._reply(
                send, 400, {"error": "bad_path", "detail": str(exc)}, request_id
            )
            self._record(
                REJECTED_ROUTE, GATEWAY_SIDE, method, status, started, request_id, scope, ""
            )
            return
        path = canonical.path
        if path == self.metrics_path and self.metrics_path:
            await self._serve_metrics(scope, send)
            return

        table = self.live.table  # read once: this request keeps this table to its end
        entry = table.match(path, method)
        side = self.sides[entry.target if entry is not None else table.default]

        child_scope = dict(scope)
        child_scope["path"] = root_path + path
        child_scope["raw_path"] = raw_root + canonical.raw
        child_scope["headers"] = headers.with_header(
            scope["headers"], headers.REQUEST_ID, request_id
        )
        extra: headers.Headers = [(headers.REQUEST_ID, request_id)]
        if self.side_header:
            extra.append((headers.SIDE, side.name.encode("ascii")))
        status = 0

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = _add_headers(message.get("headers", ()), extra)
            await send(message)

        in_progress = self.metrics.in_progress.labels(side.name)
        in_progress.inc()
        try:
            await side.app(child_scope, receive, send_with_headers)
        except Exception:
            if status:
                raise  # the response has started: the server closes the connection
            logger.exception("the %s side failed on %s %s", side.name, method, path)
            status = await self._reply(
                send, 500, {"error": "internal_error", "side": side.name}, request_id, side.name
            )
        finally:
            in_progress.dec()
            route = entry.path if entry is not None else side.route_of(child_scope)
            self._record(
                route or UNMATCHED_ROUTE,
                side.name,
                method,
                status,
                started,
                request_id,
                scope,
                path,
            )

    def _record(
        self,
        route: str,
        side: str,
        method: str,
        status: int,
        started: float,
        request_id: bytes,
        scope: Scope,
        path: str,
    ) -> None:
        duration = time.perf_counter() - started
        method_name = method_label(method)
        self.metrics.requests.labels(route, side, method_name, str(status)).inc()
        self.metrics.duration.labels(route, side, method_name).observe(duration)
        if self.access_log:
            client = scope.get("client")
            log_request(
                request_id=request_id.decode("ascii"),
                method=method,
                path=path,
                route=route,
                side=side,
                status=status,
                duration=duration,
                client=f"{client[0]}:{client[1]}" if client else None,
            )

    async def _reply(
        self,
        send: Send,
        status: int,
        body: dict[str, Any],
        request_id: bytes,
        side: str = GATEWAY_SIDE,
    ) -> int:
        content = json.dumps(body).encode("utf-8")
        response_headers: headers.Headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(content)).encode("ascii")),
            (headers.REQUEST_ID, request_id),
        ]
        if self.side_header:
            response_headers.append((headers.SIDE, side.encode("ascii")))
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": content})
        return status

    async def _serve_metrics(self, scope: Scope, send: Send) -> None:
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
        # WSGI cannot serve WebSockets, so only routes on the new side accept them.
        try:
            path = canonicalize(scope.get("raw_path") or scope["path"].encode("utf-8")).path
        except PathRejected:
            await send({"type": "websocket.close", "code": 1008})
            return
        table = self.live.table
        entry = table.match(path, "GET")
        if (entry.target if entry is not None else table.default) != "new":
            await send({"type": "websocket.close", "code": 1000})
            return
        await self.sides["new"].app(scope, receive, send)

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
        for stop in self._stop_background:
            stop()
        await self._child_lifespan.shutdown()
        await send({"type": "lifespan.shutdown.complete"})

    def _start_background(self) -> None:
        self._stop_background.append(self.live.install_signal_handler())
        if self.watch_routes:
            task = asyncio.create_task(self.live.watch(), name="gateway-routes-watcher")
            self._stop_background.append(partial(task.cancel, None))


def _add_headers(existing: Any, extra: headers.Headers) -> headers.Headers:
    names = {name for name, _ in extra}
    kept = [(name, value) for name, value in existing if name.lower() not in names]
    return kept + extra
