"""What each side's application serves, read from the application itself.

The gateway uses this to check that a route sent to the new side exists there, to label
metrics of requests that reached a side by the table's default with that side's own route
template, and to list every endpoint in `gateway routes`. Flask (Werkzeug URL maps) and
Starlette/FastAPI routers are understood; any other application is served all the same, it just
cannot be listed or checked.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from starlette.routing import BaseRoute, Match, Mount, Route
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, MapAdapter
from werkzeug.routing import Rule as WerkzeugRule

from gateway.templates import PathTemplate

# The attribute chain a wrapped application is found under (middleware usually keeps `.app`).
_WRAPPED = ("app",)
_MAX_UNWRAP = 8
_AUTOMATIC_METHODS = frozenset({"HEAD", "OPTIONS"})
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


def _find(app: object, attribute: str) -> Any:
    """`app.<attribute>`, looking through middleware that wraps the application."""
    for _ in range(_MAX_UNWRAP):
        found = getattr(app, attribute, None)
        if found is not None:
            return found
        app = next((getattr(app, w) for w in _WRAPPED if hasattr(app, w)), None)
        if app is None:
            return None
    return None


# --- Flask / Werkzeug -------------------------------------------------------------------------


def werkzeug_map(app: object) -> Map | None:
    found = _find(app, "url_map")
    return found if isinstance(found, Map) else None


def flask_template(rule: str) -> str:
    """`/tickets/<int:ticket_id>` -> `/tickets/{ticket_id}`; `<path:p>` -> `{p:path}`."""

    def replace(match: re.Match[str]) -> str:
        suffix = ":path" if match["convertor"] == "path" else ""
        return "{" + match["name"] + suffix + "}"

    return _FLASK_VARIABLE.sub(replace, rule)


def _flask_sample(rule: str) -> str:
    def replace(match: re.Match[str]) -> str:
        return _SAMPLE_UUID if match["convertor"] == "uuid" else "1"

    return _FLASK_VARIABLE.sub(replace, rule)


def flask_endpoints(url_map: Map) -> list[Endpoint]:
    endpoints = []
    for rule in url_map.iter_rules():
        methods = frozenset(rule.methods or ()) - _AUTOMATIC_METHODS or frozenset(
            rule.methods or ()
        )
        endpoints.append(
            Endpoint(flask_template(rule.rule), methods, rule.endpoint, _flask_sample(rule.rule))
        )
    return endpoints


def flask_route_namer(url_map: Map) -> RouteNamer:
    """A function giving the Flask rule (as a template) that serves a path, or None."""
    adapter: MapAdapter = url_map.bind("localhost")

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
    found = _find(app, "routes")
    return found if isinstance(found, list) else None


def _starlette_sample(template: str) -> str:
    def replace(match: re.Match[str]) -> str:
        return _SAMPLE_UUID if match["convertor"] == "uuid" else "1"

    return _STARLETTE_PARAM.sub(replace, template)


def _walk(routes: list[BaseRoute], prefix: str) -> Iterator[tuple[str, BaseRoute]]:
    for route in routes:
        if isinstance(route, Mount):
            children = route.routes
            if children:
                yield from _walk(children, prefix + route.path)
            else:
                yield prefix + route.path + "/{path:path}", route
        elif isinstance(route, Route):
            yield prefix + route.path, route


def starlette_endpoints(routes: list[BaseRoute]) -> list[Endpoint]:
    endpoints = []
    for template, route in _walk(routes, ""):
        methods = getattr(route, "methods", None) or {"GET"}
        if isinstance(route, Mount):
            methods = {"*"}
        methods = frozenset(methods) - _AUTOMATIC_METHODS or frozenset(methods)
        name = getattr(route, "name", None) or template
        endpoints.append(Endpoint(template, methods, name, _starlette_sample(template)))
    return endpoints


def starlette_serves(routes: list[BaseRoute], path: str, method: str) -> bool:
    """Whether a Starlette router has a route for `method` at the concrete `path`."""
    scope = {"type": "http", "path": path, "root_path": "", "method": method, "headers": []}
    return any(route.matches(scope)[0] is Match.FULL for route in routes)


def sample_path(template: PathTemplate) -> str:
    """A concrete path that a table template matches: what a probe of the new side asks for."""
    samples = {"static": "", "uuid": _SAMPLE_UUID}
    parts = [
        segment.value if segment.kind == "static" else samples.get(segment.kind, "1")
        for segment in template.segments
    ]
    return "/" + "/".join(parts)
