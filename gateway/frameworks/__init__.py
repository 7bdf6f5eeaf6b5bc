"""One small adapter per WSGI framework: it finds the app's router (through middleware that
keeps the app as `.app`), lists its routes, and names the route of a concrete path.

An adapter is tried only when its framework is already imported (an app built with it
imported it), so a framework that is not installed costs nothing and is never needed. An app
none of them reads is served all the same: its requests that reach it by the table's default
are labelled LEGACY_DEFAULT_ROUTE in the metrics.
"""

from __future__ import annotations

from collections.abc import Callable

from gateway.frameworks import bottle, django, falcon, flask, pyramid
from gateway.frameworks.router import LEGACY_DEFAULT_ROUTE, LegacyRouter, Route
from gateway.routing.endpoints import RouteNamer

__all__ = ["ADAPTERS", "LEGACY_DEFAULT_ROUTE", "LegacyRouter", "Route", "find_router"]

# Tried in this order; the first that recognises the app wins.
ADAPTERS: dict[str, Callable[[object], LegacyRouter | None]] = {
    "flask": flask.find,
    "django": django.find,
    "bottle": bottle.find,
    "falcon": falcon.find,
    "pyramid": pyramid.find,
}


def find_router(app: object) -> LegacyRouter | None:
    for find in ADAPTERS.values():
        router = find(app)
        if router is not None:
            return router
    return None


def legacy_namer(app: object) -> RouteNamer:
    """The legacy side's namer: its framework's router, or the fixed LEGACY_DEFAULT_ROUTE."""
    router = find_router(app)
    if router is not None:
        return router.namer()
    return lambda path, method: LEGACY_DEFAULT_ROUTE
