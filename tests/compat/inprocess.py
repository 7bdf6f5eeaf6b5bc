"""A Flask app and a FastAPI app behind the gateway built in-process (`create_app(settings)`),
driven over an ASGI transport with one cookie jar, lifespan included (the WSGI bridge's
threads stop when the block ends)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import TypeVar

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute
from flask import Flask
from prometheus_client import CollectorRegistry
from starlette.types import ASGIApp, Message

from gateway.app import create_app
from gateway.settings import GatewaySettings

T = TypeVar("T")

# What the gateway imports by name: set just before each gateway is built.
SERVED = SimpleNamespace(legacy=None, new=None)


def routes_file(new_app: FastAPI, folder: Path) -> Path:
    """Every route of the new app goes to the new side; everything else to legacy."""
    lines = ["default: legacy", "routes:"]
    for route in new_app.routes:
        if isinstance(route, APIRoute):
            methods = ", ".join(sorted(route.methods or ()))
            lines += [f"  - path: {route.path}", f"    methods: [{methods}]", "    target: new"]
    path = folder / "routes.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@asynccontextmanager
async def serving(
    legacy: Flask, new: FastAPI, folder: Path, **settings: object
) -> AsyncIterator[ASGIApp]:
    """The gateway serving both apps, started and, when the block ends, stopped."""
    SERVED.legacy, SERVED.new = legacy, new
    gateway = create_app(
        GatewaySettings(
            routes_file=routes_file(new, folder),
            legacy_app=f"{__name__}:SERVED.legacy",
            new_app=f"{__name__}:SERVED.new",
            watch_routes=False,
            ledger=False,
            access_log=False,
            data_dir=folder,
            **settings,  # type: ignore[arg-type]
        ),
        registry=CollectorRegistry(),
    )
    to_app: asyncio.Queue[Message] = asyncio.Queue()
    from_app: asyncio.Queue[Message] = asyncio.Queue()
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    lifespan = asyncio.create_task(gateway(scope, to_app.get, from_app.put))
    await to_app.put({"type": "lifespan.startup"})
    assert (await from_app.get())["type"] == "lifespan.startup.complete"
    try:
        yield gateway
    finally:
        await to_app.put({"type": "lifespan.shutdown"})
        await from_app.get()
        await lifespan


def client_of(app: ASGIApp) -> httpx.AsyncClient:
    """A client with a cookie jar of its own: one browser."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@asynccontextmanager
async def both_sides(
    legacy: Flask, new: FastAPI, folder: Path, **settings: object
) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(legacy, new, folder, **settings) as gateway, client_of(gateway) as client:
        yield client


def through_gateway(
    legacy: Flask,
    new: FastAPI,
    folder: Path,
    steps: Callable[[httpx.AsyncClient], Awaitable[T]],
    **settings: object,
) -> T:
    """`steps(client)` against both apps behind one in-process gateway."""

    async def main() -> T:
        async with both_sides(legacy, new, folder, **settings) as client:
            return await steps(client)

    return asyncio.run(main())


def set_cookies(response: httpx.Response) -> dict[str, str]:
    """Set-Cookie by cookie name: its attributes as sent, without the values that differ from one
    response to the next (the signed value, the expiry date)."""
    cookies = {}
    for header in response.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        attributes = [a.strip() for a in rest.split(";")[1:]]
        cookies[name] = "; ".join(
            a.partition("=")[0] if a.lower().startswith("expires=") else a for a in attributes
        )
    return cookies
