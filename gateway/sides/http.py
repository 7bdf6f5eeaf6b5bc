"""A side served by another process, over HTTP: `GATEWAY_NEW_URL`, `GATEWAY_LEGACY_URL`.

For a rewrite with dependencies of its own (a pydantic the gateway cannot share), scaled and
deployed on its own, or a legacy app kept under gunicorn on its hosts. The side's `app`
forwards each request to the service and streams both ways: the request body chunk by chunk
as the client sends it, the answer chunk by chunk as the service sends it. It is a `Side` like
the in-process kinds, so the one caller (gateway.pipeline.caller) gives it the entry's timeout,
the gauge and the error shape, and every chooser and policy works with it.

What it cannot deliver it raises as `Refused`, answered in the deployment's error shape: 502
when the service cannot be reached (legacy answers instead where the entry has a fallback),
504 when it sends nothing for its idle timeout, 503 when every pooled connection stays busy
that long. A safe method without a body is sent once more after a connection failure before
any answer; nothing else is ever sent twice (RFC 9110 §9.2.2).

What the gateway knows of the service comes from its OpenAPI document (gateway.sides.
service_routes), read at start and on each reload, or, for the legacy side, from the app's
code imported for reading only (`GATEWAY_LEGACY_APP` beside the URL).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx
from starlette.types import Message, Receive, Scope, Send

from gateway.frameworks import find_router, legacy_namer
from gateway.http.responses import Refused
from gateway.routing.endpoints import starlette_serves
from gateway.side_names import SideName
from gateway.sides import forwarding
from gateway.sides.http_pool import ConnectionSlots, HTTPSideObserver, NoObserver, PoolBusy
from gateway.sides.service_routes import ServiceRoutes, fetch

logger = logging.getLogger("gateway")

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
CONNECT_TIMEOUT = 5.0
# Idle pooled connections are dropped before the service would close them: uvicorn closes
# them after 5 s, gunicorn's threaded workers after 2 s. A request sent on a connection the
# server is closing fails, and only safe methods may be sent again.
KEEPALIVE_EXPIRY = 1.5
PROBE_SECONDS = 5.0  # how often /_gateway/health's view of the service is refreshed


class SideCut(ConnectionError):
    """The service's answer had started and then broke off: the client gets it cut."""


class _ClientGone(ConnectionError):
    """The client left while its request body was being forwarded."""


class HTTPSide:
    def __init__(
        self,
        name: SideName,
        url: str,
        *,
        openapi_url: str | None = None,
        analysis: object | None = None,
        pool_size: int = 100,
        idle_timeout: float | None = None,
        observer: HTTPSideObserver | None = None,
    ) -> None:
        self.name = name
        self.url = url.rstrip("/")
        self.openapi_url = openapi_url or self.url + "/openapi.json"
        # The app's code, imported to be read (routes, labels, the session), never served.
        self.analysis = analysis
        self.described: ServiceRoutes | None = None
        self.unreachable: str | None = None  # why the service did not answer, last time
        self._namer = legacy_namer(analysis) if find_router(analysis) is not None else None
        self.app = Forwarder(self, pool_size, idle_timeout, observer or NoObserver())

    @property
    def source(self) -> object | None:
        """The app's code when it was given, else what the OpenAPI document describes."""
        return self.analysis if self.analysis is not None else self.described

    @property
    def takes_websockets(self) -> bool:
        return False  # not forwarded: WebSocket routes need the new app in-process

    @property
    def in_process(self) -> bool:
        return False

    def refresh(self) -> None:
        """Read the service's OpenAPI document again (blocking: at start, on each reload)."""
        described = fetch(self.openapi_url)
        if described is None and self.described is not None:
            logger.warning("keeping the %s side's routes read before", self.name)
            return
        self.described = described

    def route_of(self, scope: Scope) -> str | None:
        namer = self._namer or (self.described.namer if self.described is not None else None)
        if namer is None:
            return None
        return namer(scope["path"][len(scope.get("root_path", "")) :], scope["method"])

    def serves(self, path: str, method: str) -> bool | None:
        if self.described is None:
            return None
        return starlette_serves(list(self.described.routes), path, method)

    def openapi(self) -> dict[str, Any] | None:
        return self.described.openapi() if self.described is not None else None

    def health_problem(self) -> str | None:
        if self.unreachable is None:
            return None
        return f"the {self.name} side (over HTTP) does not answer: {self.unreachable}"


class Forwarder:
    """The HTTP side's ASGI app: each request sent on to the service, its answer streamed back."""

    def __init__(
        self, side: HTTPSide, pool_size: int, idle_timeout: float | None, observer: HTTPSideObserver
    ) -> None:
        self.side = side
        self.idle_timeout = idle_timeout
        self.observer = observer
        self.slots = ConnectionSlots(side.name, pool_size, observer)
        self.transport = httpx.AsyncHTTPTransport(
            limits=httpx.Limits(
                max_connections=pool_size,
                max_keepalive_connections=pool_size,
                keepalive_expiry=KEEPALIVE_EXPIRY,
            ),
            # The side's URL says where requests go: no HTTP_PROXY meant for calls elsewhere.
            trust_env=False,
        )
        # Read: the service may go this long without a byte, before or during its answer.
        # Pool: the slots wait instead (their wait is counted).
        self.timeouts = httpx.Timeout(
            connect=CONNECT_TIMEOUT, read=idle_timeout, write=idle_timeout, pool=None
        ).as_dict()
        self._probe: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.forward(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        method: str = scope["method"]
        body = _has_body(scope["headers"])
        request = httpx.Request(
            method,
            self._target(scope),
            headers=forwarding.request_headers(scope),
            content=_body(receive) if body else None,
            extensions={"timeout": self.timeouts},
        )
        try:
            async with self.slots.held(self.idle_timeout):
                response = await self._send(request, retry=method in SAFE_METHODS and not body)
                try:
                    await self._stream(response, send)
                finally:
                    await response.aclose()
        except PoolBusy:
            detail = f"every connection to the {self.side.name} side stayed busy"
            busy = Refused(503, "overloaded", detail, [(b"retry-after", b"1")], self.side.name)
            raise busy from None

    def _target(self, scope: Scope) -> str:
        root = scope.get("root_path", "").encode("utf-8")
        raw: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
        path = raw[len(root) :] if root and raw.startswith(root) else raw
        query: bytes = scope.get("query_string", b"")
        target = path.decode("ascii", "surrogateescape")
        return self.side.url + target + ("?" + query.decode("latin-1") if query else "")

    async def _send(self, request: httpx.Request, retry: bool) -> httpx.Response:
        """The service's answer (its head); what prevents one raised as Refused."""
        side = self.side
        for attempt in range(2 if retry else 1):
            try:
                response = await self.transport.handle_async_request(request)
            except httpx.TimeoutException as exc:
                if not isinstance(exc, httpx.ConnectTimeout):
                    detail = f"the {side.name} side sent nothing for {self.idle_timeout:g} s"
                    raise Refused(504, "timeout", detail, side=side.name) from None
                failure: httpx.TransportError = exc
            except httpx.TransportError as exc:
                failure = exc
            else:
                side.unreachable = None
                return response
            reason = _reason(failure)
            self.observer.connection_error(side.name, type(failure).__name__)
            logger.warning(
                "the %s side at %s did not answer %s %s (attempt %d): %s",
                side.name,
                side.url,
                request.method,
                request.url.path,
                attempt + 1,
                reason,
            )
            if isinstance(failure, httpx.ConnectError | httpx.ConnectTimeout):
                side.unreachable = reason
        detail = f"the {side.name} side did not answer ({reason})"
        raise Refused(502, "bad_gateway", detail, side=side.name)

    async def _stream(self, response: httpx.Response, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": forwarding.response_headers(response.headers.raw),
            }
        )
        stream: Any = response.stream
        try:
            async for chunk in stream:
                if chunk:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except httpx.TransportError as exc:
            self.observer.connection_error(self.side.name, type(exc).__name__)
            raise SideCut(f"the {self.side.name} side's answer broke off: {exc!r}") from exc
        await send({"type": "http.response.body", "body": b""})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._probe = asyncio.create_task(self._watch(), name=f"{self.side.name}-probe")
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._probe is not None:
                    self._probe.cancel()
                await self.transport.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _watch(self) -> None:
        """Whether the service takes connections, checked every few seconds for the health."""
        parts = urlsplit(self.side.url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        while True:
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT):
                    _, writer = await asyncio.open_connection(parts.hostname, port)
                writer.close()
                self.side.unreachable = None
            except (OSError, TimeoutError) as exc:
                self.side.unreachable = _reason(exc)
            await asyncio.sleep(PROBE_SECONDS)


def _has_body(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        name = name.lower()
        if name == b"content-length":
            return value.strip() != b"0"
        if name == b"transfer-encoding":
            return True
    return False


async def _body(receive: Receive) -> AsyncIterator[bytes]:
    """The client's request body, each piece passed on as it arrives."""
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone("the client left while sending its request body")
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "..."
