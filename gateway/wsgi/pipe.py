"""A streamed response body on its way from the worker thread to the event loop.

Bounded in bytes, so a generator faster than the client waits instead of piling its output up in
memory; batched, so the loop takes whatever has accumulated in one go and the thread wakes the
loop only when the loop is waiting (a2wsgi hops once per chunk, `run_coroutine_threadsafe` and a
wait for its result). Closing it from the loop (the client left) makes the thread's next `put`
raise `ClientGone`, which ends the WSGI iteration; closing it with an error (the call timed out)
also makes the loop's `get` raise that error, so the response ends cut rather than complete.
"""

from __future__ import annotations

import asyncio
import threading


class ClientGone(Exception):
    """Raised in the worker thread: nobody will read what the app produces any more."""


class ResponsePipe:
    def __init__(self, loop: asyncio.AbstractEventLoop, limit: int) -> None:
        self._loop = loop
        self._limit = limit
        self._lock = threading.Condition(threading.Lock())
        self._chunks: list[bytes] = []
        self._size = 0
        self._finished = False
        self._error: BaseException | None = None
        self._closed = False
        self.waiting = False  # the thread waits for the loop to take what it put (a slow client)
        self._waiter: asyncio.Future[None] | None = None

    # --- worker thread ------------------------------------------------------------------------

    def put(self, chunk: bytes) -> None:
        with self._lock:
            while self._size >= self._limit and not self._closed:
                self.waiting = True
                self._lock.wait()
            self.waiting = False
            if self._closed:
                raise ClientGone
            self._chunks.append(chunk)
            self._size += len(chunk)
            waiter, self._waiter = self._waiter, None
        if waiter is not None:
            self._loop.call_soon_threadsafe(_wake, waiter)

    def finish(self, error: BaseException | None = None) -> None:
        with self._lock:
            self._finished = True
            if not self._closed:  # a pipe closed with an error keeps that error
                self._error = error
            waiter, self._waiter = self._waiter, None
        if waiter is not None:
            self._loop.call_soon_threadsafe(_wake, waiter)

    # --- event loop ---------------------------------------------------------------------------

    async def get(self) -> tuple[bytes, bool]:
        """The bytes produced since the last call, and whether more may follow.

        Raises the app's exception once everything it produced before failing was taken.
        """
        while True:
            with self._lock:
                if self._chunks:
                    data = b"".join(self._chunks)
                    self._chunks.clear()
                    self._size = 0
                    self._lock.notify()
                    return data, not self._finished or self._error is not None
                if self._closed or self._finished:
                    if self._error is not None:
                        raise self._error
                    return b"", False
                waiter = self._waiter = self._loop.create_future()
            await waiter

    def close(self, error: BaseException | None = None) -> None:
        """The client is gone: stop the producer at its next chunk and the consumer now.

        Called from either side (the thread closes a pipe it made after the client left). With
        an `error`, the consumer's `get` raises it: the response is cut, not complete.
        """
        with self._lock:
            if error is not None and not self._closed:
                self._error = error
            self._closed = True
            self._lock.notify()
            waiter, self._waiter = self._waiter, None
        if waiter is not None:
            self._loop.call_soon_threadsafe(_wake, waiter)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
