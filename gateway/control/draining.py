"""Stopping a server that sits behind a load balancer: fail readiness first, stop later.

When Kubernetes deletes a pod it sends SIGTERM and, at the same time, starts removing the pod
from the Service's endpoints; every node's kube-proxy and every ingress controller learns of
that a few seconds later. A server that stops accepting at once refuses the connections still
sent to it in those seconds (the reason for the usual `preStop: sleep 5`). So on SIGTERM the
gateway first answers its readiness probe (`/_gateway/health`) with 503, keeps serving for
`GATEWAY_DRAIN_SECONDS`, and only then lets uvicorn's graceful shutdown begin: stop accepting,
let requests in flight finish, run the lifespan shutdown.

SIGINT (Ctrl-C) stops at once, as before: a person at a terminal has no load balancer to wait
for. A second signal during the drain (SIGINT, or SIGTERM from an impatient supervisor) is
uvicorn's: it stops now.

During the drain every answer says `Connection: close` (as Go's and Envoy's servers do when
they drain): a client or proxy that keeps connections open (an ingress controller's upstream
pool) would otherwise go on sending on them until the drain ends, and the graceful stop then
closes them under it, racing with requests already on the wire. Closed after each answer, the
next request opens a new connection, which goes to another pod once the endpoints are updated.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import time
from collections.abc import Awaitable, Callable
from types import FrameType

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("gateway")
# How long a connection accepted just before the server stops accepting may take to send its
# request: a round trip on the network the server is in, with a generous margin.
LAST_REQUEST_SECONDS = 0.5


class DrainingServer(uvicorn.Server):
    # A single process has no use for the moment for last requests (see shutdown): the
    # connections still on their way are refused with its socket anyway. Workers set it.
    last_request_seconds = 0.0

    def __init__(
        self, config: uvicorn.Config, *, drain_seconds: float, on_drain: Callable[[], object]
    ) -> None:
        super().__init__(config)
        self.drain_seconds = drain_seconds
        self.on_drain = on_drain  # turns readiness to 503
        self.drain_ends: float | None = None
        self.announced = False

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        # Every connection takes the app from the config as it opens: wrapped before the first.
        self.config.loaded_app = CloseWhileDraining(self.config.loaded_app, self)
        await super().startup(sockets)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # uvicorn stops accepting and at once closes every connection with no request in
        # progress, among them those it accepted a moment ago whose request is still on the
        # wire: their clients get a reset. Where other processes go on serving the same port
        # (the workers of `--workers N`, one replaced), accepting is stopped first, and such
        # connections get a moment to send their request, which is then answered in full.
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        await asyncio.sleep(self.last_request_seconds)
        await super().shutdown(sockets)

    def quit_now(self) -> None:
        """Stop without the drain or the moment for last requests: a supervisor's "quit now".

        Like uvicorn's second signal, but recorded nowhere: uvicorn raises the signals it
        caught again once it has stopped, which would end the process by that signal."""
        self.last_request_seconds = 0.0
        if self.should_exit:
            self.force_exit = True
        self.should_exit = True

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Runs in the signal handler: only set state here; the server's tick acts on it.
        if sig != signal.SIGTERM or self.drain_ends is not None or self.drain_seconds <= 0:
            super().handle_exit(sig, frame)
            return
        self.drain_ends = time.monotonic() + self.drain_seconds
        self.on_drain()

    async def on_tick(self, counter: int) -> bool:
        if self.drain_ends is not None and not self.should_exit:
            if not self.announced:  # logged here, not in the signal handler (logging locks)
                self.announced = True
                logger.info(
                    "SIGTERM: readiness answers 503; serving %g s more before stopping",
                    self.drain_seconds,
                )
            if time.monotonic() >= self.drain_ends:
                super().handle_exit(signal.SIGTERM, None)
        return await super().on_tick(counter)


class CloseWhileDraining:
    """Adds `Connection: close` to every answer once the server drains."""

    def __init__(self, app: ASGIApp, server: DrainingServer) -> None:
        self.app = app
        self.server = server

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine: until the drain it hands back the app's own, adding no frame.
        if scope["type"] != "http" or self.server.drain_ends is None:
            return self.app(scope, receive, send)
        return self.app(scope, receive, _closing(send))


def _closing(send: Send) -> Send:
    async def closing(message: Message) -> None:
        if message["type"] == "http.response.start":
            # The app's own Connection header (keep-alive, say) gives way to the drain's.
            kept = [(n, v) for n, v in message.get("headers", []) if n.lower() != b"connection"]
            message = {**message, "headers": [*kept, (b"connection", b"close")]}
        await send(message)

    return closing
