"""What each side's application serves, read from the application itself.

The gateway uses this to check that a route sent to the new side exists there, to label
metrics of requests that reached a side by the table's default with that side's own route
template, and to list every endpoint in `gateway routes`. Starlette/FastAPI routers are read
here (the new side); legacy frameworks, Flask included, by their adapters in gateway.frameworks.
Any other application is served all the same, it just cannot be listed or checked.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from starlette.routing import BaseRoute, Match, Mount, Route

from gateway.routing.methods import AUTOMATIC_METHODS
from gateway.routing.templates import PathTemplate

# The attribute chain a wrapped application is found under (middleware usually keeps `.app`).
_WRAPPED = ("app",)
_MAX_UNWRAP = 8
_STARLETTE_PARAM = re.compile(r"\{(?P<name>\w+)(?::(?P<convertor>\w+))?\}")
_SAMPLE_UUID = str(uuid.UUID(int=1))

RouteNamer = Callable[[str, str], str | None]


@dataclass(frozen=True, slots=True)
class Endpoint:
    template: str  # in FastAPI's syntax, whichever side it comes from
    methods: frozenset[str]
    name: str
    sample: str  # a concrete path this endpoint serves, to ask the route table about


def unwrap(app: object) -> Iterator[object]:
    """`app`, then the applications it wraps (middleware usually keeps them as `.app`)."""
    current: object | None = app
    for _ in range(_MAX_UNWRAP):
        if current is None:
            return
        yield current
        current = next((getattr(current, w) for w in _WRAPPED if hasattr(current, w)), None)


def find_attribute(app: object, attribute: str) -> Any:
    """`app.<attribute>`, looking through middleware that wraps the application."""
    for candidate in unwrap(app):
        found = getattr(candidate, attribute, None)
        if found is not None:
            return found
    return None


# --- Starlette / FastAPI ----------------------------------------------------------------------


def starlette_routes(app: object) -> list[BaseRoute] | None:
    found = find_attribute(app, "routes")
    return found if isinstance(found, list) else None


def _starlette_sample(template: str) -> str:
    def replace(match: re.Match[str]) -> str:
        return _SAMPLE_UUID if match["convertor"] == "uuid" else "1"

    return _STARLETTE_PARAM.sub(replace, template)


def _walk(routes: list[BaseRoute], prefix: str) -> Iterator[tuple[str, BaseRoute]]:
    """Every endpoint route with its full template, looking into mounts and included routers."""
    for route in routes:
        candidates = getattr(route, "effective_candidates", None)
        if callable(candidates):
            # FastAPI 0.16x keeps included routers whole: each candidate is either a nested
            # included router or a context holding the route and its full path.
            for candidate in candidates():
                original = getattr(candidate, "original_route", None)
                if original is None:
                    yield from _walk([candidate], prefix)
                else:
                    yield prefix + candidate.path, original
        elif isinstance(route, Mount):
            children = route.routes
            if children:
                yield from _walk(children, prefix + route.path)
            else:
                yield prefix + route.path + "/{path:path}", route
        elif isinstance(route, Route):
            yield prefix + route.path, route


def starlette_walk(routes: list[BaseRoute]) -> Iterator[tuple[str, BaseRoute]]:
    """Every endpoint route of a Starlette router, with its full template."""
    return _walk(routes, "")


def starlette_templates(routes: list[BaseRoute]) -> dict[int, str]:
    """Full templates by route object: Starlette records the route it matched in
    `scope["route"]`, but a route of an included router only knows its path within it."""
    return {id(route): template for template, route in _walk(routes, "")}


def starlette_endpoints(routes: list[BaseRoute]) -> list[Endpoint]:
    endpoints = []
    for template, route in _walk(routes, ""):
        methods = getattr(route, "methods", None) or {"GET"}
        if isinstance(route, Mount):
            methods = {"*"}
        methods = frozenset(methods) - AUTOMATIC_METHODS or frozenset(methods)
        name = getattr(route, "name", None) or template
        endpoints.append(Endpoint(template, methods, name, _starlette_sample(template)))
    return endpoints


def starlette_serves(routes: list[BaseRoute], path: str, method: str) -> bool:
    """Whether a Starlette router has a route for `method` at the concrete `path`.

    A WebSocket route counts for GET, the method of a WebSocket handshake.
    """
    kinds = ("http", "websocket") if method == "GET" else ("http",)
    for kind in kinds:
        scope = {"type": kind, "path": path, "root_path": "", "method": method, "headers": []}
        if any(route.matches(scope)[0] is Match.FULL for route in routes):
            return True
    return False


def sample_path(template: PathTemplate) -> str:
    """A concrete path that a table template matches: what a probe of the new side asks for."""
    samples = {"static": "", "uuid": _SAMPLE_UUID}
    parts = [
        segment.value if segment.kind == "static" else samples.get(segment.kind, "1")
        for segment in template.segments
    ]
    return "/" + "/".join(parts)
