"""The bounds of a request head, and the deadline both protocols share.

The deadline costs no timer per request. A connection holds at most one timer; when it fires,
it looks at what the connection is doing: a request in flight (its answer not yet complete)
is no concern of the head's, an idle connection whose head has not come in time is closed,
and one that started reading its head later is looked at again when that head's time is up.
A keep-alive connection restarts its clock with one `loop.time()` at the end of each answer.
"""

from __future__ import annotations

import asyncio
import http
import logging
from dataclasses import dataclass
from typing import ClassVar

from uvicorn.server import ServerState

logger = logging.getLogger("gateway")
# After a refusal, how long what the client still sends is read and dropped before closing. A
# server that closes with unread bytes makes the kernel send a reset, and a client still
# sending its head (a large one) loses the answer it was sent: NGINX lingers likewise.
LINGER_SECONDS = 2.0
# What the parsed fields do not carry of the head's bytes: `: ` and CRLF per header, and the
# request line around its target (method, version).
FIELD_FRAMING = 4
LINE_FRAMING = 16


@dataclass(frozen=True, slots=True)
class HeadLimits:
    """How large a request head may be (bytes), and how long it may take (seconds)."""

    max_bytes: int
    timeout: float


class HeadTooLarge(Exception):
    """Raised in a parser's callback: the head grew past the limit."""


def refusal(status: int, detail: str, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    """A complete answer the server gives itself, before closing the connection."""
    phrase = http.HTTPStatus(status).phrase
    body = f"{detail}\n".encode("ascii")
    lines = [f"HTTP/1.1 {status} {phrase}\r\n".encode("ascii")]
    lines += [name + b": " + value + b"\r\n" for name, value in default_headers]
    lines += [
        b"content-type: text/plain; charset=utf-8\r\n",
        b"content-length: %d\r\n" % len(body),
        b"connection: close\r\n\r\n",
        body,
    ]
    return b"".join(lines)


class HeadDeadline:
    """Mixed into a uvicorn HTTP protocol: the deadline of the request head being read.

    The protocol calls `_start_head` when the connection opens and when an answer completes,
    `_stop_head_timer` when the connection is lost, and supplies the two methods below.

    The state is kept in slots, not in the instance's dict: uvicorn's protocols set 28
    attributes, and CPython shares the keys of instance dicts (and specialises the attribute
    reads of every method on them) only up to 30; a few more made each request about 8,000
    instructions dearer, in uvicorn's own code."""

    __slots__ = ("_head_since", "_head_timer", "discarding")

    limits: ClassVar[HeadLimits]
    max_head: ClassVar[int]  # limits.max_bytes, read on every request
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    client: tuple[str, int] | None
    server_state: ServerState
    _head_since: float
    _head_timer: asyncio.TimerHandle | None
    discarding: bool  # refused: what comes is dropped until the connection closes

    def _init_head(self) -> None:
        self._head_since = 0.0
        self._head_timer = None
        self.discarding = False

    def _request_in_flight(self) -> bool:
        raise NotImplementedError

    def _head_begun(self) -> bool:
        """Whether the client sent part of a head since the clock started."""
        raise NotImplementedError

    def _refuse(self, status: int, detail: str) -> None:
        client = f"{self.client[0]}:{self.client[1]} - " if self.client else ""
        logger.info("%s%d: %s", client, status, detail)
        transport = self.transport
        transport.write(refusal(status, detail, self.server_state.default_headers))
        self.discarding = True
        if transport.can_write_eof():
            transport.write_eof()  # the answer, then the end: the client stops sending
            self.loop.call_later(LINGER_SECONDS, transport.close)
        else:
            transport.close()

    def _start_head(self) -> None:
        self._head_since = self.loop.time()
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.limits.timeout, self._head_deadline)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_deadline(self) -> None:
        self._head_timer = None
        transport = self.transport
        # A connection upgraded to a WebSocket has another protocol: its head was read in time.
        upgraded = transport.get_protocol() is not self  # type: ignore[comparison-overlap]
        if transport.is_closing() or upgraded:
            return
        if self._request_in_flight():
            return  # the clock starts again when its answer completes
        left = self._head_since + self.limits.timeout - self.loop.time()
        if left > 0:
            self._head_timer = self.loop.call_later(left, self._head_deadline)
        elif self._head_begun():
            # A client that sent part of a request is waiting for an answer: it gets one.
            self._refuse(408, f"request head not received within {self.limits.timeout:g} s")
        else:
            transport.close()  # idle: closed as a keep-alive connection is, without a word
