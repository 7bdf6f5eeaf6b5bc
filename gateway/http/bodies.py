"""Reading a request body ahead, so that the request can be sent again (fallback, shadow)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from starlette.types import Message, Receive


@dataclass(slots=True)
class BufferedBody:
    messages: list[Message]  # what was received, in order, to hand out again
    body: bytes
    complete: bool  # the whole body is in `body` (not cut at the limit, no disconnect)

    def replay(self, receive: Receive) -> Receive:
        """A receive giving the buffered messages first, then what `receive` gives."""
        pending = list(self.messages)

        async def replayed() -> Message:
            return pending.pop(0) if pending else await receive()

        return replayed


async def read_body(receive: Receive, limit: int) -> BufferedBody:
    """Receive the request body up to `limit` bytes (more if one message goes past it)."""
    messages: list[Message] = []
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return BufferedBody(messages, b"".join(parts), complete=False)
        chunk = message.get("body", b"")
        parts.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return BufferedBody(messages, b"".join(parts), complete=True)
        if size > limit:
            return BufferedBody(messages, b"".join(parts), complete=False)


def replay_body(body: bytes, done: asyncio.Event) -> Receive:
    """A receive for a copy of a request: the whole body, then a disconnect once `done` is set."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    return receive
