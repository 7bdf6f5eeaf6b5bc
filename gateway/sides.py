"""The two applications the gateway serves, as ASGI apps, with what it knows of their routes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from starlette.types import ASGIApp, Scope

from gateway.routing.endpoints import RouteNamer

SideName = Literal["legacy", "new"]


@dataclass(frozen=True, slots=True)
class Side:
    name: str  # "legacy" or "new"
    app: ASGIApp
    # For a request the table did not match: the side's own route template for it. Given the
    # scope after the side has answered, so a router that records its match (Starlette sets
    # scope["route"]) costs nothing more.
    route_namer: RouteNamer | None = None
    templates: dict[int, str] = field(default_factory=dict)  # by id() of a Starlette route

    def route_of(self, scope: Scope) -> str | None:
        route = scope.get("route")
        if route is not None:
            template = self.templates.get(id(route), getattr(route, "path", None))
            if isinstance(template, str):
                return template
        if self.route_namer is not None:
            return self.route_namer(
                scope["path"][len(scope.get("root_path", "")) :], scope["method"]
            )
        return None
