"""The FastAPI app: `uvicorn new_app.main:app`. Serves the endpoints migrated so far."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import NamedTuple

from anyio import to_thread
from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute
from flask import Flask

from gateway.compat.flask import LegacyState, LegacyStateMiddleware
from legacy_app.db import init_db
from legacy_app.settings import Settings
from new_app import comments, health, tickets, users
from new_app.allowed_methods import AllowedMethods
from new_app.context import bind_request_context
from new_app.database import DEFAULT_THREADS, Database
from new_app.errors import install_error_handlers
from new_app.head import HeadAsGetMiddleware
from new_app.legacy import legacy_app_for, served_legacy_app

API_PREFIX = "/api"
API_ROUTERS: tuple[APIRouter, ...] = (users.router, tickets.router, comments.router)


class Endpoint(NamedTuple):
    method: str
    path: str  # Starlette template, e.g. "/api/tickets/{ticket_id:int}"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    # Off the event loop: first start creates tables and hashes the demo password (scrypt).
    engine = await to_thread.run_sync(init_db, settings.database_url)
    app.state.database = Database(engine, app.state.database_threads)
    app.state.started = True
    try:
        yield
    finally:
        engine.dispose()


def create_app(
    settings: Settings | None = None,
    database_threads: int = DEFAULT_THREADS,
    legacy_app: Flask | None = None,
) -> FastAPI:
    """`database_threads`: how many requests may use the database at once (see database.py).
    `legacy_app`: the Flask app whose session the rewrite shares (default: one built with the
    same settings)."""
    if database_threads < 1:
        raise ValueError(f"database_threads must be at least 1, got {database_threads}")
    settings = settings or Settings.from_env()
    # No slash redirects: Flask answers 404 for "/api/tickets/", and so must we.
    app = FastAPI(title="Help desk (new)", lifespan=lifespan, redirect_slashes=False)
    app.state.settings = settings
    app.state.database_threads = database_threads
    app.state.started = False
    app.state.legacy = LegacyState(legacy_app or legacy_app_for(settings))
    install_error_handlers(app, AllowedMethods(migrated_endpoints()))
    app.add_middleware(HeadAsGetMiddleware)
    app.add_middleware(LegacyStateMiddleware)
    app.include_router(health.router)
    # The legacy /api blueprint authenticated in before_request, before parsing anything;
    # router dependencies run before the endpoint's own, which keeps that order.
    api = APIRouter(prefix=API_PREFIX, dependencies=[Depends(bind_request_context)])
    for router in API_ROUTERS:
        api.include_router(router)
    app.include_router(api)
    return app


def migrated_endpoints() -> list[Endpoint]:
    """(method, path template) of every endpoint this app serves in place of the legacy one.

    Read from the routers themselves, so a route cannot be served without being listed.
    """
    mounted = [("", health.router), *((API_PREFIX, router) for router in API_ROUTERS)]
    return sorted(
        Endpoint(method, prefix + route.path)
        for prefix, router in mounted
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    )


app = create_app(legacy_app=served_legacy_app())
