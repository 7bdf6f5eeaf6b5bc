"""Pyramid (URL dispatch): routes from the registry's routes mapper, matched in their order.

A route's `request_method` predicate is honoured when naming; other route predicates (custom
ones, headers, params) cannot be judged without the request, so they are taken as passing: a
request is then named by the first route whose pattern matches. An app that uses traversal only
has no routes: the gateway cannot read it.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import Any

from gateway.frameworks.router import (
    ANY_METHOD,
    Parameter,
    Route,
    cached_namer,
    listed_methods,
    may_span_segments,
)
from gateway.routing.endpoints import RouteNamer, unwrap

# As pyramid.urldispatch.route_re: `{name}` or `{name:regex}`, one level of inner braces.
_FIELD = re.compile(r"\{(?P<name>[_a-zA-Z]\w*)(?::(?P<regex>[^{}]*(?:\{[^{}]*\}[^{}]*)*))?\}")
_REMAINDER = re.compile(r"\*(?P<name>\w*)$")
_OLD_STYLE = re.compile(r":(?P<name>[_a-zA-Z]\w*)")


def find(app: object) -> PyramidRouter | None:
    if "pyramid" not in sys.modules:
        return None
    from pyramid.interfaces import IRoutesMapper
    from pyramid.router import Router

    for candidate in unwrap(app):
        if isinstance(candidate, Router):
            mapper = candidate.registry.queryUtility(IRoutesMapper)
            if mapper is None or not mapper.has_routes():
                return None
            return PyramidRouter(mapper)
    return None


@dataclass(frozen=True, slots=True)
class PyramidRouter:
    mapper: Any  # pyramid.urldispatch.RoutesMapper
    framework: str = "pyramid"

    def routes(self) -> list[Route]:
        routes = []
        for route in self.mapper.get_routes():
            methods = _methods(route)
            template, parameters = pattern_template(route.pattern)
            listed = listed_methods(methods) if methods else frozenset({ANY_METHOD})
            routes.append(Route(template, listed, route.name, parameters=parameters))
        return routes

    def namer(self) -> RouteNamer:
        routes = [(route, _methods(route)) for route in self.mapper.get_routes()]

        def name(path: str, method: str) -> str | None:
            for route, methods in routes:
                if (methods is None or method in methods) and route.match(path) is not None:
                    template, _ = pattern_template(route.pattern)
                    return template
            return None

        return cached_namer(name)


def _methods(route: Any) -> frozenset[str] | None:
    for predicate in route.predicates:
        if type(predicate).__name__ == "RequestMethodPredicate":
            return frozenset(predicate.val)
    return None


def pattern_template(pattern: str) -> tuple[str, tuple[Parameter, ...]]:
    """`/items/{id:\\d+}` -> `/items/{id:int}`; `/static/*subpath` -> `/static/{subpath:path}`."""
    if _OLD_STYLE.search(pattern) and not _FIELD.search(pattern):
        pattern = _OLD_STYLE.sub(r"{\g<name>}", pattern)
    parameters: list[Parameter] = []

    def field(match: re.Match[str]) -> str:
        name, regex = match["name"], match["regex"]
        if regex is None:
            parameters.append(Parameter(name))
            return "{" + name + "}"
        # A canonical path holds ASCII digits only, so \d+ takes what [0-9]+ takes.
        if regex in (r"\d+", "[0-9]+"):
            parameters.append(Parameter(name, "integer", minimum=0))
            return "{" + name + ":int}"
        parameters.append(Parameter(name, pattern=f"^{regex}$"))
        return "{" + name + (":path" if may_span_segments(regex) else "") + "}"

    text = _FIELD.sub(field, "/" + pattern.lstrip("/"))
    remainder = _REMAINDER.search(text)
    if remainder is not None:
        name = remainder["name"] or "subpath"
        parameters.append(Parameter(name, description="the rest of the path: it may hold '/'"))
        text = text[: remainder.start()] + "{" + name + ":path}"
    return text, tuple(parameters)
