"""Running a child application's lifespan (startup and shutdown) inside the gateway's own.

The server sends one lifespan to the gateway; the new side's FastAPI app needs its own startup
and shutdown to run (database pools, caches, `app.state`). The child is given the server's
lifespan scope, `state` included, so state it sets at startup reaches its requests as it would
if it were served directly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("gateway.control.lifespan")


class LifespanFailed(RuntimeError):
    pass


class ChildLifespan:
    def __init__(self, app: ASGIApp, name: str) -> None:
        self.app = app
        self.name = name
        self._to_child: asyncio.Queue[Message] = asyncio.Queue()
        self._from_child: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._supported = True

    async def startup(self, scope: Scope) -> None:
        self._task = asyncio.create_task(self._run(scope))
        await self._to_child.put({"type": "lifespan.startup"})
        message = await self._from_child.get()
        if message["type"] == "lifespan.startup.failed":
            raise LifespanFailed(f"{self.name} failed to start: {message.get('message', '')}")
        if message["type"] == "gateway.child.exited":
            # As uvicorn's "auto" mode does: an app that raises on a lifespan scope before
            # starting simply has no lifespan.
            self._supported = False
            logger.info("%s does not support the lifespan protocol", self.name)

    async def shutdown(self) -> None:
        if self._task is None or not self._supported:
            return
        await self._to_child.put({"type": "lifespan.shutdown"})
        message = await self._from_child.get()
        if message["type"] == "lifespan.shutdown.failed":
            logger.error("%s failed to shut down: %s", self.name, message.get("message", ""))
        await self._task

    async def _run(self, scope: Scope) -> None:
        try:
            await self.app(scope, self._to_child.get, self._send)
        except Exception as exc:
            logger.debug("%s lifespan ended with %r", self.name, exc)
        finally:
            await self._from_child.put({"type": "gateway.child.exited"})

    async def _send(self, message: Message) -> None:
        await self._from_child.put(message)


class GatewayLifespan:
    """The gateway's lifespan: both sides' own, the routes watcher, and a graceful end.

    At shutdown the health endpoint says "draining" first, then the watcher stops, shadow
    copies in flight get a few seconds to finish, and the sides' lifespans end in reverse
    order (the new app's, then the WSGI bridge's, which stops its threads).
    """

    def __init__(
        self,
        children: list[ChildLifespan],
        *,
        background: Callable[[], list[Callable[[], object]]],
        on_shutdown: Callable[[], object],
        drain: Callable[[], Awaitable[None]],
        at_end: Sequence[Callable[[], object]] = (),
    ) -> None:
        self.children = children
        self.at_end = at_end  # run last: write what the sinks still hold (log lines, counts)
        self.background = background  # starts background work, returns how to stop each
        self.on_shutdown = on_shutdown
        self.drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await receive()  # lifespan.startup
        try:
            for child in self.children:
                await child.startup(scope)
            stops = self.background()
        except Exception as exc:
            logger.exception("startup failed")
            await send({"type": "lifespan.startup.failed", "message": str(exc)})
            return
        await send({"type": "lifespan.startup.complete"})
        await receive()  # lifespan.shutdown
        self.on_shutdown()
        for stop in stops:
            stop()
        await self.drain()
        for child in reversed(self.children):
            await child.shutdown()
        for end in self.at_end:
            end()
        await send({"type": "lifespan.shutdown.complete"})
