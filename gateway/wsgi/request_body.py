"""Request bodies on their way to the app: read ahead on the loop, or fed to `wsgi.input`.

`read_ahead` takes the first bytes of a body on the event loop before the call takes a thread:
a body up to its limit (the usual case) is then whole at hand, and a client that sends it
slowly holds no thread meanwhile. What is left of a larger body comes through `RequestBody`.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, cast

from a2wsgi.wsgi import Body
from starlette.types import Receive


class ClientDisconnected(OSError):
    """The client went away before the whole request body arrived."""


class BodyRefused(OSError):
    """The gateway stopped reading the request body (too slow, too large) and refused it."""


async def read_ahead(receive: Receive, limit: int) -> tuple[bytes, bool] | None:
    """The body's first message, and more up to `limit` bytes; and whether more follows.

    None if the client left first.
    """
    message = await receive()
    if message["type"] != "http.request":
        return None
    body: bytes = message.get("body", b"")
    more: bool = message.get("more_body", False)
    if not more or len(body) >= limit:
        return body, more
    pieces = [body]
    size = len(body)
    while more and size < limit:
        message = await receive()
        if message["type"] != "http.request":
            return None
        piece = message.get("body", b"")
        pieces.append(piece)
        size += len(piece)
        more = message.get("more_body", False)
    return b"".join(pieces), more


class RequestBody(Body):
    """`wsgi.input` for a body that is still arriving: fed by the loop, read by the thread.

    a2wsgi's `Body` does the reading (`read`, `readline`, iteration over lines); what changes is
    where its data comes from. a2wsgi has the worker thread call `receive()` on the event loop
    for each piece, one thread hop per piece, and reads an `http.disconnect` as a normal end of
    body, so an app handed a cut-off upload cannot tell. Here one task on the loop owns
    `receive()` (it keeps listening after the body, to notice a client that goes away), hands
    pieces over through a bounded buffer, and a disconnect mid-body raises `ClientDisconnected`
    in the reading thread, as gunicorn raises on a truncated body.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        receive: Receive,
        first: bytes,
        limit: int,
        on_read: Callable[[], object] | None = None,
        aside: tuple[Callable[[], object], Callable[[], object]] | None = None,
    ) -> None:
        super().__init__(loop, cast(Any, receive))  # a2wsgi's reading of it is replaced
        self._limit = limit
        self._on_read = on_read  # called in the reading thread for each piece it takes
        # Called in the reading thread before it waits for the client, and after: a thread
        # that waits on its client does not count against the concurrency limit.
        self._aside = aside
        self.waiting = False  # the reader waits for the client to send more
        self._ready = threading.Condition(threading.Lock())
        self._pieces: deque[bytes] = deque([first] if first else [])
        self._pending = len(first)  # bytes fed and not yet taken by the reader
        self._ended = False  # the last piece has been fed
        self._error: OSError | None = None
        self._room: asyncio.Future[None] | None = None  # the feeder, waiting for the reader

    # --- worker thread ------------------------------------------------------------------------

    def _receive_more_data(self) -> bytes:
        aside = False
        try:
            with self._ready:
                while not self._pieces and not self._ended and self._error is None:
                    if self._aside is not None and not aside:
                        aside = True
                        self._aside[0]()
                    self.waiting = True
                    self._ready.wait()
                self.waiting = False
        finally:
            if aside and self._aside is not None:
                self._aside[1]()
        with self._ready:
            if self._error is not None:
                raise self._error
            piece = self._pieces.popleft() if self._pieces else b""
            self._pending -= len(piece)
            self._has_more = bool(self._pieces) or not self._ended
            waiter = self._room if self._pending < self._limit else None
            if waiter is not None:
                self._room = None
        if waiter is not None:
            self.loop.call_soon_threadsafe(_wake, waiter)
        if self._on_read is not None:
            self._on_read()
        return piece

    # --- event loop ---------------------------------------------------------------------------

    async def feed(self, piece: bytes, more: bool) -> None:
        """Hand a piece to the reader; waits while the reader is `limit` bytes behind."""
        with self._ready:
            if piece:
                self._pieces.append(piece)
                self._pending += len(piece)
            self._ended = not more
            self._ready.notify()
            if self._pending < self._limit or not more:
                return
            waiter = self._room = self.loop.create_future()
        await waiter

    def disconnect(self, error: OSError | None = None) -> None:
        """No more of the body will come: the reader gets `error` (by default, a disconnect)."""
        with self._ready:
            if not self._ended and self._error is None:
                self._error = error or ClientDisconnected(
                    "the client disconnected before the whole body"
                )
            self._ready.notify()


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
