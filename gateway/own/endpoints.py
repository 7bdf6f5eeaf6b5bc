"""The gateway's own endpoints: `/_gateway/health`, the metrics, the admin API and dashboard.

Answered by the gateway, never routed to an app, whatever the route table says. They carry
the request id and `X-Gateway-Side: gateway` like every answer. The admin API is in the access
log; the health probe and metrics scrapes are not (an orchestrator and Prometheus call them
every few seconds), and none of them is counted in the request metrics.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry
from starlette.types import Message, Receive, Scope, Send

from gateway.guide.service import Guide, GuideUnavailable
from gateway.http import headers
from gateway.http.responses import send_json
from gateway.observe.metrics import exposition
from gateway.own.admin import AdminAPI, is_admin_path, token_matches
from gateway.pipeline.caller import GATEWAY_SIDE
from gateway.pipeline.exchange import Exchange
from gateway.pipeline.outcomes import OutcomeBus

HEALTH_PATH = "/_gateway/health"
GATEWAY_ROUTE = "__gateway__"  # the route of the gateway's own endpoints in the access log


class OwnEndpoints:
    def __init__(
        self,
        *,
        admin: AdminAPI,
        registry: CollectorRegistry,
        bus: OutcomeBus,
        metrics_path: str = "/metrics",
        metrics_tokens: tuple[str, ...] | None = None,
        side_header: bool = True,
        health_checks: tuple[Callable[[], str | None], ...] = (),
        side_checks: tuple[Callable[[], str | None], ...] = (),
        guide: Guide | None = None,
        openapi_path: str | None = None,
    ) -> None:
        self.admin = admin
        self.registry = registry
        self.bus = bus
        self.metrics_path = metrics_path
        self.metrics_tokens = metrics_tokens  # any of them reads /metrics; None: no token needed
        self.side_header = side_header
        # Each returns why the process cannot serve (e.g. WSGI threads stuck at their cap), or None.
        self.health_checks = health_checks
        # Each returns why a side served by another process does not answer, or None.
        self.side_checks = side_checks
        self.draining = False  # set when the server begins to shut down
        self.guide = guide
        # Where API consumers get the merged OpenAPI document without a token (None: nowhere).
        self.openapi_path = openapi_path if guide is not None else None

    def start_draining(self) -> None:
        """From now on the health endpoint answers 503: the process is about to stop."""
        self.draining = True

    def owns(self, path: str) -> bool:
        return (
            path == HEALTH_PATH
            or (path == self.metrics_path and bool(self.metrics_path))
            or is_admin_path(path)
            or path == self.openapi_path
        )

    async def __call__(self, exchange: Exchange, receive: Receive, send: Send) -> None:
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
            await self._health(send_with_headers)
        elif exchange.path == self.metrics_path:
            await self._metrics(exchange.scope, send_with_headers)
        else:
            if exchange.path == self.openapi_path:
                await self._openapi(send_with_headers)
            else:
                await self.admin(exchange.scope, receive, send_with_headers, exchange.path)
            self.bus.log(exchange, GATEWAY_ROUTE, GATEWAY_SIDE, status)

    async def _health(self, send: Send) -> None:
        """200 while this process can serve; 503 (with the reasons) when it is draining or
        stuck, so that a load balancer stops sending to it and an orchestrator restarts it.

        A side served over HTTP that does not answer makes it `degraded`, still 200: this
        process is not at fault, restarting it would not help, and the other side serves on.
        """
        problems = [problem for check in self.health_checks if (problem := check())]
        if self.draining:
            problems.insert(0, "draining: the process is shutting down")
        sides = [problem for check in self.side_checks if (problem := check())]
        status = "unhealthy" if problems else ("degraded" if sides else "ok")
        body: dict[str, object] = {"status": status, "problems": problems}
        if sides:
            body["sides"] = sides
        await send_json(send, 503 if problems else 200, body, [(b"cache-control", b"no-store")])

    async def _openapi(self, send: Send) -> None:
        assert self.guide is not None  # openapi_path is None without a guide
        try:
            document = await self.guide.openapi()
        except GuideUnavailable as exc:
            body = {"error": "openapi_unavailable", "detail": str(exc)}
            await send_json(send, 503, body, [(b"cache-control", b"no-store")])
            return
        await send_json(send, 200, document, [(b"cache-control", b"no-cache")])

    async def _metrics(self, scope: Scope, send: Send) -> None:
        if self.metrics_tokens is not None and not any(
            token_matches(token, scope["headers"]) for token in self.metrics_tokens
        ):
            refusal = {"error": "unauthorized", "detail": "Send 'Authorization: Bearer <token>'."}
            await send_json(send, 401, refusal)
            return
        accept = headers.get(scope["headers"], b"accept")
        body, content_type = exposition(self.registry, accept.decode("latin-1") if accept else None)
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
