"""A side served by another process, over HTTP: `GATEWAY_NEW_URL`, `GATEWAY_LEGACY_URL`.

For a rewrite with dependencies of its own (a pydantic the gateway cannot share), scaled and
deployed on its own, or a legacy app kept under gunicorn on its hosts. The side's `app`
forwards each request to the service (pooled HTTP/1.1 connections, gateway.sides.http_client)
and streams both ways: the request body chunk by chunk as the client sends it, the answer chunk
by chunk as the service sends it. It is a `Side` like the in-process kinds, so the one caller
(gateway.pipeline.caller) gives it the entry's timeout, the gauge and the error shape, and
every chooser and policy works with it.

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

import h11
from starlette.types import Message, Receive, Scope, Send

from gateway.frameworks import find_router
from gateway.http.responses import Refused
from gateway.routing.endpoints import starlette_serves
from gateway.side_names import SideName
from gateway.sides import forwarding
from gateway.sides.http_client import Connection, Unreachable, Upstream
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
        router = find_router(analysis) if analysis is not None else None
        self._namer = router.namer() if router is not None else None
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
        return starlette_serves(self.described.routes, path, method)

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
        # The service may go this long without a byte, before or during its answer (None: no
        # limit; the new side's wait for its answer is the caller's, the entry's timeout).
        self.idle_timeout = idle_timeout
        self.observer = observer
        self.slots = ConnectionSlots(side.name, pool_size, observer)
        self.upstream = Upstream(
            side.url,
            size=pool_size,
            keepalive_expiry=KEEPALIVE_EXPIRY,
            connect_timeout=CONNECT_TIMEOUT,
        )
        self._probe: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.forward(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        method: str = scope["method"]
        body = _has_body(scope["headers"])
        head = h11.Request(
            method=method, target=self._target(scope), headers=self._headers(scope, body)
        )
        try:
            async with self.slots.held(self.idle_timeout):
                retry = method in SAFE_METHODS and not body
                connection, response = await self._start(head, receive if body else None, retry)
                try:
                    await self._stream(connection, response, send)
                finally:
                    self.upstream.release(connection)  # closed unless it ended cleanly
        except PoolBusy:
            detail = f"every connection to the {self.side.name} side stayed busy"
            busy = Refused(503, "overloaded", detail, [(b"retry-after", b"1")], self.side.name)
            raise busy from None

    def _target(self, scope: Scope) -> bytes:
        root = scope.get("root_path", "").encode("utf-8")
        raw: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
        path = raw[len(root) :] if root and raw.startswith(root) else raw
        query: bytes = scope.get("query_string", b"")
        return self.upstream.base_path + path + (b"?" + query if query else b"")

    def _headers(self, scope: Scope, body: bool) -> forwarding.Headers:
        sent = forwarding.request_headers(scope)
        names = {name for name, _ in sent}
        if b"host" not in names:  # an HTTP/1.0 client's request: HTTP/1.1 needs one
            sent.append((b"host", self.upstream.authority))
        if body and b"content-length" not in names:
            # The client's chunked framing was its connection's (hop-by-hop): this one's own.
            sent.append((b"transfer-encoding", b"chunked"))
        return sent

    async def _start(
        self, head: h11.Request, receive: Receive | None, retry: bool
    ) -> tuple[Connection, h11.Response]:
        """A connection and the head of the service's answer; what prevents one is Refused."""
        side = self.side
        for attempt in range(2 if retry else 1):
            connection: Connection | None = None
            try:
                connection = await self.upstream.connection()
                response = await self._exchange(connection, head, receive)
            except TimeoutError:
                if connection is not None:
                    connection.close()
                detail = f"the {side.name} side sent nothing for {self.idle_timeout:g} s"
                raise Refused(504, "timeout", detail, side=side.name) from None
            except (OSError, h11.ProtocolError) as exc:
                if connection is not None:
                    connection.close()
                failure: Exception = exc
            except BaseException:
                if connection is not None:  # the client left, a body limit, a cancellation
                    connection.close()
                raise
            else:
                side.unreachable = None
                return connection, response
            reason = _reason(failure)
            self.observer.connection_error(side.name, _kind(failure))
            logger.warning(
                "the %s side at %s did not answer %s %s (attempt %d): %s",
                side.name,
                side.url,
                head.method.decode("ascii"),
                head.target.decode("ascii", "replace"),
                attempt + 1,
                reason,
            )
            if isinstance(failure, Unreachable):
                side.unreachable = reason
        detail = f"the {side.name} side did not answer ({reason})"
        raise Refused(502, "bad_gateway", detail, side=side.name)

    async def _exchange(
        self, connection: Connection, head: h11.Request, receive: Receive | None
    ) -> h11.Response:
        """Send the request (its body chunk by chunk as the client sends it); the answer's head."""
        timeout = self.idle_timeout
        await connection.send(head, timeout)
        if receive is not None:
            async for chunk in _body(receive):
                await connection.send(h11.Data(data=chunk), timeout)
        await connection.send(h11.EndOfMessage(), timeout)
        while True:
            event = await connection.next_event(timeout)
            if isinstance(event, h11.Response):
                return event
            if not isinstance(event, h11.InformationalResponse):  # 100 Continue: skipped
                raise ConnectionResetError("the connection closed before an answer")

    async def _stream(self, connection: Connection, response: h11.Response, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": forwarding.response_headers(response.headers),
            }
        )
        try:
            while True:
                event = await connection.next_event(self.idle_timeout)
                if isinstance(event, h11.Data):
                    body = bytes(event.data)
                    await send({"type": "http.response.body", "body": body, "more_body": True})
                elif isinstance(event, h11.EndOfMessage):
                    break
                else:
                    raise ConnectionResetError("the connection closed in the answer's body")
        except (OSError, TimeoutError, h11.ProtocolError) as exc:
            self.observer.connection_error(self.side.name, _kind(exc))
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
                self.upstream.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _watch(self) -> None:
        """Whether the service takes connections, checked every few seconds for the health."""
        while True:
            try:
                (await self.upstream.connect()).close()
                self.side.unreachable = None
            except Unreachable as exc:
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


def _kind(exc: BaseException) -> str:
    """The error label of gateway_http_side_connection_errors_total: a few fixed values."""
    if isinstance(exc, Unreachable):
        return "connect"  # refused, unknown host, connect timed out
    if isinstance(exc, TimeoutError):
        return "timeout"  # nothing for the idle timeout, in the answer's body
    if isinstance(exc, h11.ProtocolError):
        return "protocol"  # closed early, or spoke something other than HTTP/1.1
    return "closed"  # reset or closed by the service


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "..."
