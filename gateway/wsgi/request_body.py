"""`wsgi.input` for a body that arrives after the call started: fed by the event loop.

a2wsgi's `Body` does the reading (`read`, `readline`, iteration over lines); what changes is
where its data comes from. a2wsgi has the worker thread call `receive()` on the event loop for
each piece, one thread hop per piece, and reads an `http.disconnect` as a normal end of body, so
an app handed a cut-off upload cannot tell. Here one task on the loop owns `receive()` (it keeps
listening after the body, to notice a client that goes away), hands pieces over through a
bounded buffer, and a disconnect mid-body raises `ClientDisconnected` in the reading thread, as
gunicorn raises on a truncated body.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from typing import Any, cast

from a2wsgi.wsgi import Body
from starlette.types import Receive


class ClientDisconnected(OSError):
    """The client went away before the whole request body arrived."""


class RequestBody(Body):
    """The body's pieces, put by the event loop (`feed`), read by the worker thread."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, receive: Receive, first: bytes, limit: int
    ) -> None:
        super().__init__(loop, cast(Any, receive))  # a2wsgi's reading of it is replaced
        self._limit = limit
        self._ready = threading.Condition(threading.Lock())
        self._pieces: deque[bytes] = deque([first] if first else [])
        self._pending = len(first)  # bytes fed and not yet taken by the reader
        self._ended = False  # the last piece has been fed
        self._error: OSError | None = None
        self._room: asyncio.Future[None] | None = None  # the feeder, waiting for the reader

    # --- worker thread ------------------------------------------------------------------------

    def _receive_more_data(self) -> bytes:
        with self._ready:
            while not self._pieces and not self._ended and self._error is None:
                self._ready.wait()
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

    def disconnect(self) -> None:
        with self._ready:
            if not self._ended:
                self._error = ClientDisconnected("the client disconnected before the whole body")
            self._ready.notify()


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
