"""A side served in-process by an ASGI application (the new app: FastAPI, Starlette)."""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Scope

from gateway.frameworks import starlette as starlette_adapter
from gateway.routing.endpoints import (
    RouteNamer,
    find_attribute,
    starlette_routes,
    starlette_serves,
    starlette_templates,
)
from gateway.side_names import SideName


class ASGISide:
    def __init__(self, name: SideName, app: ASGIApp, source: object | None = None) -> None:
        self.name = name
        self.app = app
        self.source = source
        routes = starlette_routes(source) if source is not None else None
        self._routes = routes
        self._namer: RouteNamer | None = starlette_adapter.namer(source) if routes else None
        self._templates = starlette_templates(routes or [])  # by id() of a Starlette route

    @property
    def takes_websockets(self) -> bool:
        return True

    @property
    def in_process(self) -> bool:
        return True

    def refresh(self) -> None:
        pass  # its routes are read from the app itself, which does not change

    def route_of(self, scope: Scope) -> str | None:
        route = scope.get("route")
        if route is not None:
            template = self._templates.get(id(route), getattr(route, "path", None))
            if isinstance(template, str):
                return template
        if self._namer is not None:
            return self._namer(scope["path"][len(scope.get("root_path", "")) :], scope["method"])
        return None

    def serves(self, path: str, method: str) -> bool | None:
        if self._routes is None:
            return None
        return starlette_serves(self._routes, path, method)

    def openapi(self) -> dict[str, Any] | None:
        build = find_attribute(self.source, "openapi") if self.source is not None else None
        document = build() if callable(build) else None
        return document if isinstance(document, dict) else None

    def health_problem(self) -> str | None:
        return None
