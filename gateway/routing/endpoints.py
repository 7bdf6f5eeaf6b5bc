"""What each side's application serves, read from the application itself.

The gateway uses this to check that a route sent to the new side exists there, to label
metrics of requests that reached a side by the table's default with that side's own route
template, and to list every endpoint in `gateway routes`. Flask (Werkzeug URL maps) and
Starlette/FastAPI routers are understood; any other application is served all the same, it just
cannot be listed or checked.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from starlette.routing import BaseRoute, Match, Mount, Route
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, MapAdapter
from werkzeug.routing import Rule as WerkzeugRule

from gateway.routing.methods import AUTOMATIC_METHODS
from gateway.routing.templates import PathTemplate

# The attribute chain a wrapped application is found under (middleware usually keeps `.app`).
_WRAPPED = ("app",)
_MAX_UNWRAP = 8
_FLASK_VARIABLE = re.compile(r"<(?:(?P<convertor>[A-Za-z_]\w*)(?:\([^)]*\))?:)?(?P<name>\w+)>")
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


# --- Flask / Werkzeug -------------------------------------------------------------------------


def werkzeug_map(app: object) -> Map | None:
    found = find_attribute(app, "url_map")
    return found if isinstance(found, Map) else None


def flask_template(rule: str) -> str:
    """`/tickets/<int:ticket_id>` -> `/tickets/{ticket_id:int}`, in FastAPI's syntax.

    Convertors both frameworks share (int, path, uuid) are kept; others become plain `{x}`.
    """

    def replace(match: re.Match[str]) -> str:
        convertor = match["convertor"]
        suffix = f":{convertor}" if convertor in ("int", "path", "uuid") else ""
        return "{" + match["name"] + suffix + "}"

    return _FLASK_VARIABLE.sub(replace, rule)


def _flask_sample(rule: str) -> str:
    def replace(match: re.Match[str]) -> str:
        return _SAMPLE_UUID if match["convertor"] == "uuid" else "1"

    return _FLASK_VARIABLE.sub(replace, rule)


def flask_endpoints(url_map: Map) -> list[Endpoint]:
    endpoints = []
    for rule in url_map.iter_rules():
        methods = frozenset(rule.methods or ()) - AUTOMATIC_METHODS or frozenset(rule.methods or ())
        endpoints.append(
            Endpoint(flask_template(rule.rule), methods, rule.endpoint, _flask_sample(rule.rule))
        )
    return endpoints


def flask_route_namer(url_map: Map) -> RouteNamer:
    """A function giving the Flask rule (as a template) that serves a path, or None."""
    adapter: MapAdapter = url_map.bind("localhost")

    # Werkzeug's matcher costs tens of microseconds; hot paths repeat, so recent answers are
    # kept (bounded, as paths holding ids do not repeat).
    @functools.lru_cache(maxsize=4096)
    def name(path: str, method: str) -> str | None:
        try:
            rule, _ = adapter.match(path, method=method, return_rule=True)
        except HTTPException:
            return None  # 404, 405, or a redirect to the slash-terminated rule
        assert isinstance(rule, WerkzeugRule)
        return flask_template(rule.rule)

    return name


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
