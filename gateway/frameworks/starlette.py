"""Starlette and FastAPI, as the new side: a namer for requests the router did not record.

Starlette's router records the route it matched in `scope["route"]`, which the gateway reads
after the side answered (gateway.sides). FastAPI 0.16x's own router records only its API routes
there, not the plain Starlette routes FastAPI adds itself (`/openapi.json`, `/docs`, `/redoc`):
those are named here by matching the path against every route's full template.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount, compile_path

from gateway.frameworks.router import cached_namer
from gateway.routing.endpoints import RouteNamer, starlette_routes, starlette_walk


def namer(app: object) -> RouteNamer | None:
    routes = starlette_routes(app)
    if routes is None:
        return None
    return routes_namer(routes)


def routes_namer(routes: list[BaseRoute]) -> RouteNamer:
    compiled = []
    for template, route in starlette_walk(routes):
        regex, _, _ = compile_path(template)
        methods = None if isinstance(route, Mount) else getattr(route, "methods", None)
        compiled.append((regex, frozenset(methods) if methods else None, template))

    def name(path: str, method: str) -> str | None:
        # The first full match wins, as in Starlette's router; a path matched for another method
        # only (a 405) is still that route's request.
        partial = None
        for regex, methods, template in compiled:
            if regex.match(path) is None:
                continue
            if methods is None or method in methods:
                return template
            partial = partial or template
        return partial

    return cached_namer(name)
