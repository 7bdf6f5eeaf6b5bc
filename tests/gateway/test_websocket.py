"""WebSockets: WSGI cannot serve them, so only routes the new side serves accept them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.servers import run_gateway


async def echo(port: int, path: str) -> str:
    async with connect(f"ws://127.0.0.1:{port}{path}", open_timeout=5) as websocket:
        await websocket.send("hello")
        return str(await websocket.recv())


@pytest.mark.parametrize(
    ("routes", "served"),
    [
        pytest.param("routes:\n  - {path: /ws, target: new}\n", True, id="routed-to-new"),
        pytest.param("default: new\nroutes: []\n", True, id="default-new"),
        pytest.param("routes: []\n", False, id="default-legacy"),
        pytest.param("routes:\n  - {path: /ws, target: canary, weight: 100}\n", False, id="canary"),
    ],
)
def test_websockets_reach_only_the_new_side(tmp_path: Path, routes: str, served: bool) -> None:
    routes_file = tmp_path / "routes.yaml"
    routes_file.write_text(routes)
    with run_gateway(routes_file) as server:
        if served:
            assert asyncio.run(echo(server.port, "/ws")) == "new:hello"
            assert asyncio.run(echo(server.port, "//ws")) == "new:hello"  # one canonical path
        else:
            with pytest.raises((InvalidStatus, ConnectionClosed)):
                asyncio.run(echo(server.port, "/ws"))
