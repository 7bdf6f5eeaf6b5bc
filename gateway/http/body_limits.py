"""Limits on a request body, applied to the ASGI `receive` callable: idle time, rate and size.

Whatever waits for a body waits as long as the client takes to send it: a client sending a byte
a second holds it for good (16 such uploads once pinned every WSGI thread of the legacy side).
`BodyLimits.guard` wraps `receive` so that waiting for the next piece of a body ends after
`idle_timeout` seconds with `Refused(408)`, and a body beyond `max_size` bytes ends with
`Refused(413)`: at once when the declared Content-Length says so, else when the bytes received
pass it. Either is raised to the caller, which answers it if nothing was answered yet.

An idle timeout alone lets a client that sends a byte every few seconds hold the wait for ever,
so the body also has a minimum rate, as Apache's mod_reqtimeout (`body=...,MinRate=500`): the
body may take `idle_timeout` seconds plus one second per `min_rate` bytes received, then 408.

Both refusals close the connection (`Connection: close`): the rest of such a body is not worth
reading, and a client that stalls must not keep the connection either.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from starlette.types import Message, Receive, Scope

from gateway.http.responses import Refused

CLOSE = (b"connection", b"close")


@dataclass(frozen=True, slots=True)
class BodyLimits:
    idle_timeout: float = 10.0  # seconds to wait for the next piece of a body
    max_size: int | None = None  # bytes; None: no limit
    min_rate: float = 500.0  # bytes a second, on average beyond `idle_timeout`; 0: no minimum

    def guard(self, scope: Scope, receive: Receive) -> Receive:
        """`receive` with the limits applied; raises `Refused(413)` now for a declared excess."""
        has_body, length = _framing(scope["headers"])
        if not has_body:
            # HTTP/1.1: without Content-Length or Transfer-Encoding there is no body, so the
            # first `receive` answers at once and there is nothing to guard.
            return receive
        if self.max_size is not None and length is not None and length > self.max_size:
            raise self.too_large(f"the request declares {length} bytes")
        return _GuardedReceive(receive, self)

    def too_large(self, what: str) -> Refused:
        detail = f"{what}; at most {self.max_size} bytes are accepted"
        return Refused(413, "body_too_large", detail, headers=[CLOSE])

    def too_slow(self) -> Refused:
        detail = f"no part of the request body arrived for {self.idle_timeout:g} s"
        return Refused(408, "body_timeout", detail, headers=[CLOSE])

    def too_slow_overall(self, received: int, seconds: float) -> Refused:
        detail = (
            f"the request body arrived at less than {self.min_rate:g} bytes/s "
            f"({received} bytes in {seconds:.1f} s)"
        )
        return Refused(408, "body_timeout", detail, headers=[CLOSE])


def has_body(scope: Scope) -> bool:
    """Whether the request comes with a body, which `BodyLimits.guard` would guard."""
    return _framing(scope["headers"])[0]


class _GuardedReceive:
    def __init__(self, receive: Receive, limits: BodyLimits) -> None:
        self._receive = receive
        self._limits = limits
        self._received = 0
        self._done = False  # the body is complete: what follows is a wait for a disconnect
        self._started: float | None = None

    async def __call__(self) -> Message:
        if self._done:
            return await self._receive()
        limits = self._limits
        wait, overall = limits.idle_timeout, False
        if limits.min_rate > 0:
            now = time.monotonic()
            if self._started is None:
                self._started = now
            allowed = limits.idle_timeout + self._received / limits.min_rate
            left = self._started + allowed - now
            if left < wait:
                wait, overall = max(left, 0.0), True
        timeout = asyncio.timeout(wait)
        try:
            async with timeout:
                message = await self._receive()
        except TimeoutError:
            if not timeout.expired():
                raise
            if overall and self._started is not None:
                spent = time.monotonic() - self._started
                raise limits.too_slow_overall(self._received, spent) from None
            raise limits.too_slow() from None
        if message["type"] != "http.request":
            self._done = True
            return message
        self._received += len(message.get("body", b""))
        max_size = self._limits.max_size
        if max_size is not None and self._received > max_size:
            raise self._limits.too_large(f"the request body passed {max_size} bytes")
        self._done = not message.get("more_body", False)
        return message


def _framing(headers: list[tuple[bytes, bytes]]) -> tuple[bool, int | None]:
    """Whether the request has a body, and the length it declares (None: not declared)."""
    has_body = False
    length: int | None = None
    for name, value in headers:  # ASGI header names are lowercase
        if name == b"transfer-encoding":
            has_body = True
        elif name == b"content-length":
            # The server checked it already (uvicorn refuses a malformed one): be safe anyway.
            length = int(value) if value.isdigit() else None
            has_body = has_body or length != 0
    return has_body, length
