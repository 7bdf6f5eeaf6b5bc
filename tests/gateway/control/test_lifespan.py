"""The gateway's lifespan runs both sides' own: the WSGI bridge's threads stop at shutdown."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from starlette.types import Message

from gateway.app import create_app
from gateway.settings import GatewaySettings
from gateway.wsgi import WSGIBridge
from gateway.wsgi.pool import PoolClosed
from tests.servers import SAMPLE_LEGACY, SAMPLE_NEW


async def _run_lifespan(app: object) -> list[str]:
    """Startup, then shutdown, as a server drives them; the messages the app sent back."""
    to_app: asyncio.Queue[Message] = asyncio.Queue()
    sent: list[str] = []

    async def send(message: Message) -> None:
        sent.append(message["type"])

    await to_app.put({"type": "lifespan.startup"})
    await to_app.put({"type": "lifespan.shutdown"})
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    await app(scope, to_app.get, send)  # type: ignore[operator]
    return sent


def test_shutdown_stops_the_bridges_threads(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text("default: legacy\nroutes: []\n", encoding="utf-8")
    settings = GatewaySettings(
        routes_file=routes, legacy_app=SAMPLE_LEGACY, new_app=SAMPLE_NEW, watch_routes=False
    )
    app = create_app(settings)
    bridge = app.sides["legacy"].app
    assert isinstance(bridge, WSGIBridge)
    bridge.pool.submit(lambda: None)  # open before the shutdown
    sent = asyncio.run(_run_lifespan(app))
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    with pytest.raises(PoolClosed):
        bridge.pool.submit(lambda: None)
