"""A gateway built by `create_app(settings)` and served in-process, over httpx's ASGI transport.

For what runs in the gateway's own process: no server, no socket, no port. Real servers
(tests/servers.py) stay for what needs one: signals, workers, sockets.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import CollectorRegistry
from starlette.types import Message

from gateway.app import create_app
from gateway.dispatcher import Gateway
from gateway.settings import GatewaySettings
from tests.servers import SAMPLE_LEGACY, SAMPLE_NEW


def settings(tmp_path: Path, routes: str, **values: Any) -> GatewaySettings:
    path = tmp_path / "routes.yaml"
    path.write_text(routes, encoding="utf-8")
    given: dict[str, Any] = {
        "routes_file": path,
        "legacy_app": SAMPLE_LEGACY,
        "new_app": SAMPLE_NEW,
        "watch_routes": False,
        "ledger": False,
        "access_log": False,
        **values,
    }
    return GatewaySettings(**given)


@asynccontextmanager
async def serving(
    settings: GatewaySettings, registry: CollectorRegistry, **options: Any
) -> AsyncIterator[tuple[Gateway, httpx.AsyncClient]]:
    """The gateway with its lifespan started (and stopped after), and a client for it;
    `options` go to create_app (a tracer_provider, say)."""
    app = create_app(settings, registry=registry, **options)
    to_app: asyncio.Queue[Message] = asyncio.Queue()
    from_app: asyncio.Queue[Message] = asyncio.Queue()
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    lifespan = asyncio.create_task(app(scope, to_app.get, from_app.put))
    await to_app.put({"type": "lifespan.startup"})
    assert (await from_app.get())["type"] == "lifespan.startup.complete"
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield app, client
    finally:
        await to_app.put({"type": "lifespan.shutdown"})
        await lifespan
