"""HTTP/1.1 connections to one service, kept alive and reused: h11 on asyncio's streams.

h11 does the protocol (framing both ways: Content-Length, chunked, a HEAD's or a 304's empty
body, what may be reused); this module keeps the connections. httpx was measured first here
(docs/http-sides.md): its pool cost about 3 ms of CPU per request under 32 concurrent requests
(httpcore imports sniffio on every lock it makes, where anyio 4 no longer installs it, scans
every pooled connection's socket on each request, and resolves each new connection's address
in a thread), several times what the service itself spends. h11 comes with uvicorn already, so
a side over HTTP needs no dependency of its own.
"""

from __future__ import annotations

import asyncio
import ssl
from urllib.parse import urlsplit

import h11

Headers = list[tuple[bytes, bytes]]
READ_SIZE = 65536


class Unreachable(ConnectionError):
    """No connection could be made to the service (refused, unknown host, timed out)."""


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.protocol = h11.Connection(h11.CLIENT)
        self.idle_since = 0.0
        self.reused = False  # served a request before: the service may have closed it since

    async def send(self, event: h11.Event, timeout: float | None) -> None:
        data = self.protocol.send(event)
        if data:
            self.writer.write(data)
            async with asyncio.timeout(timeout):
                await self.writer.drain()

    async def next_event(self, timeout: float | None) -> h11.Event | type[h11.PAUSED]:
        """The service's next event (its answer's head, a piece of body, its end)."""
        while True:
            event = self.protocol.next_event()
            if event is not h11.NEED_DATA:
                return event  # type: ignore[return-value]
            async with asyncio.timeout(timeout):
                data = await self.reader.read(READ_SIZE)
            self.protocol.receive_data(data)  # b"": the service closed the connection

    @property
    def reusable(self) -> bool:
        protocol = self.protocol
        return protocol.our_state is h11.DONE and protocol.their_state is h11.DONE

    def close(self) -> None:
        self.writer.close()


class Upstream:
    """Where a side's requests go, and its idle connections (the last used is reused first)."""

    def __init__(
        self, url: str, *, size: int, keepalive_expiry: float, connect_timeout: float
    ) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "localhost"
        self.tls = ssl.create_default_context() if parts.scheme == "https" else None
        self.port = parts.port or (443 if self.tls else 80)
        self.authority = parts.netloc.encode("ascii")
        self.base_path = parts.path.rstrip("/").encode("ascii")
        self.size = size
        self.keepalive_expiry = keepalive_expiry
        self.connect_timeout = connect_timeout
        self._idle: list[Connection] = []

    async def connection(self) -> Connection:
        """A live idle connection, or a new one (Unreachable when none can be made)."""
        now = asyncio.get_running_loop().time()
        while self._idle:
            connection = self._idle.pop()
            if now - connection.idle_since < self.keepalive_expiry and not (
                connection.reader.at_eof()
            ):
                return connection
            connection.close()
        return await self.connect()

    async def connect(self) -> Connection:
        try:
            async with asyncio.timeout(self.connect_timeout):
                reader, writer = await asyncio.open_connection(
                    self.host, self.port, ssl=self.tls, limit=READ_SIZE
                )
        except (OSError, TimeoutError) as exc:
            reason = "connect timed out" if isinstance(exc, TimeoutError) else str(exc)
            raise Unreachable(reason or type(exc).__name__) from exc
        return Connection(reader, writer)

    def release(self, connection: Connection) -> None:
        """Keep a connection whose exchange ended cleanly for the next request; close others."""
        if not connection.reusable or len(self._idle) >= self.size:
            connection.close()
            return
        connection.protocol.start_next_cycle()
        connection.idle_since = asyncio.get_running_loop().time()
        connection.reused = True
        self._idle.append(connection)

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()
