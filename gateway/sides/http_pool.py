"""The connections to a side served over HTTP: how many are in use, how many requests wait.

A slot per connection, taken for as long as a request and its answer's body use it: at most
`size` connections are in use at once (gateway.sides.http_client keeps the idle ones), and a
request beyond them waits for a slot, counted as waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol


class HTTPSideObserver(Protocol):
    """What an HTTP side tells (gateway.observe.metrics.HTTPSideMetrics makes metrics of it)."""

    def connections(self, side: str, in_use: int, waiting: int) -> None: ...

    def connection_error(self, side: str, reason: str) -> None: ...


class NoObserver:
    def connections(self, side: str, in_use: int, waiting: int) -> None:
        pass

    def connection_error(self, side: str, reason: str) -> None:
        pass


class PoolBusy(Exception):
    """No connection freed up within the wait allowed."""


class ConnectionSlots:
    def __init__(self, side: str, size: int, observer: HTTPSideObserver) -> None:
        self.side = side
        self.size = size
        self.observer = observer
        self.in_use = 0
        self.waiting = 0
        self._free = asyncio.Semaphore(size)

    @asynccontextmanager
    async def held(self, timeout: float | None) -> AsyncIterator[None]:
        """A connection's slot for the block; PoolBusy when none is free within `timeout`."""
        self.waiting += 1
        self._report()
        try:
            async with asyncio.timeout(timeout):
                await self._free.acquire()
        except BaseException as exc:
            self.waiting -= 1
            self._report()
            if isinstance(exc, TimeoutError):
                raise PoolBusy(f"no free connection within {timeout:g} s") from None
            raise
        self.waiting -= 1
        self.in_use += 1
        self._report()
        try:
            yield
        finally:
            self.in_use -= 1
            self._free.release()
            self._report()

    def _report(self) -> None:
        self.observer.connections(self.side, self.in_use, self.waiting)
