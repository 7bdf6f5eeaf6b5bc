"""Driving an ASGI app in-process as uvicorn would, for the bridge's unit tests; waiting helpers.

`receive` hands out the request body messages, then blocks until the response is complete (or
the test makes the client leave) and answers `http.disconnect`, as uvicorn does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message


@dataclass
class Exchange:
    messages: list[Message] = field(default_factory=list)
    disconnected: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def start(self) -> Message:
        return next(m for m in self.messages if m["type"] == "http.response.start")

    @property
    def status(self) -> int:
        return int(self.start["status"])

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        return list(self.start["headers"])

    def header(self, name: bytes) -> bytes | None:
        return next((value for key, value in self.headers if key == name), None)

    @property
    def body_messages(self) -> list[Message]:
        return [m for m in self.messages if m["type"] == "http.response.body"]

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.body_messages)

    @property
    def complete(self) -> bool:
        bodies = self.body_messages
        return bool(bodies) and not bodies[-1].get("more_body", False)


def http_scope(
    method: str = "GET",
    path: str = "/",
    *,
    query: bytes = b"",
    headers: Sequence[tuple[bytes, bytes]] = (),
    root_path: str = "",
    raw_path: bytes | None = None,
) -> dict[str, Any]:
    full_path = root_path + path
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": full_path,
        "raw_path": raw_path if raw_path is not None else full_path.encode("utf-8"),
        "root_path": root_path,
        "query_string": query,
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def drive(
    app: ASGIApp,
    scope: dict[str, Any] | None = None,
    *,
    body: Sequence[bytes] = (b"",),
    on_send: Callable[[Exchange, Message], Awaitable[None]] | None = None,
) -> Exchange:
    """Run one request through `app`; the exchange records every message sent."""
    exchange = Exchange()
    pending = [
        {"type": "http.request", "body": piece, "more_body": index < len(body) - 1}
        for index, piece in enumerate(body)
    ]

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        await exchange.disconnected.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if exchange.disconnected.is_set():
            return  # uvicorn drops what is sent to a client that left
        exchange.messages.append(message)
        if on_send is not None:
            await on_send(exchange, message)
        if exchange.complete:
            exchange.disconnected.set()

    await app(scope or http_scope(), receive, send)
    return exchange


class Seen:
    """A bridge observer that keeps what it was told, for assertions."""

    def __init__(self) -> None:
        self.rejections = 0
        self.timeouts = 0
        self.queue_timeouts = 0
        self.stuck_counts: list[int] = []
        self.limits: list[int] = []

    def rejected(self) -> None:
        self.rejections += 1

    def timed_out(self) -> None:
        self.timeouts += 1

    def queue_timed_out(self) -> None:
        self.queue_timeouts += 1

    def stuck(self, count: int) -> None:
        self.stuck_counts.append(count)

    def limit(self, limit: int) -> None:
        self.limits.append(limit)
