"""Django: routes from the URL resolver of `ROOT_URLCONF`, names from `resolve()`.

Django routes by path alone (views choose their methods), so a route is listed with the
methods of a class-based view, or `*` for a function view.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from gateway.frameworks.router import (
    ANY_METHOD,
    Route,
    cached_namer,
    listed_methods,
    may_span_segments,
)
from gateway.routing.endpoints import RouteNamer, unwrap

_ROUTE_PARAMETER = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")
_NAMED_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>(?P<pattern>(?:[^()\\]|\\.|\((?!\?P<)[^()]*\))*)\)")


def find(app: object) -> DjangoRouter | None:
    if "django" not in sys.modules:  # an app built with Django imported it
        return None
    from django.core.handlers.wsgi import WSGIHandler

    if not any(isinstance(candidate, WSGIHandler) for candidate in unwrap(app)):
        return None
    from django.urls import get_resolver

    return DjangoRouter(get_resolver())


@dataclass(frozen=True, slots=True)
class DjangoRouter:
    resolver: Any  # django.urls.URLResolver
    framework: str = "django"

    def routes(self) -> list[Route]:
        routes = []
        for route, pattern in _walk(self.resolver.url_patterns, ""):
            callback = pattern.callback
            view_class = getattr(callback, "view_class", None)
            if view_class is not None:
                names = getattr(view_class, "http_method_names", ())
                methods = listed_methods(
                    m for m in names if m != "options" and hasattr(view_class, m)
                )
            else:
                methods = frozenset({ANY_METHOD})
            name = pattern.name or getattr(callback, "__qualname__", None) or route
            routes.append(Route(route_template(route), methods, name, view=callback))
        return routes

    def namer(self) -> RouteNamer:
        from django.urls import Resolver404

        resolver = self.resolver

        def name(path: str, method: str) -> str | None:
            try:
                match = resolver.resolve(path)
            except Resolver404:
                return None
            return route_template(match.route)

        return cached_namer(name)


def _walk(patterns: list[Any], prefix: str) -> Iterator[tuple[str, Any]]:
    """Every URL pattern with its route as Django's `ResolverMatch.route` spells it."""
    from django.urls import URLResolver

    for pattern in patterns:
        route = _join(prefix, str(pattern.pattern))
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, route)
        else:
            yield route, pattern


def _join(first: str, second: str) -> str:
    # As django.urls.resolvers.URLResolver._join_route.
    if not first:
        return second
    return first + second.removeprefix("^")


def route_template(route: str) -> str:
    """`api/items/<int:pk>/` -> `/api/items/{pk:int}/`; a `re_path()` route keeps whatever of
    its regular expression cannot be written as a template (it is a label, not an entry)."""
    from django.urls.converters import get_converters

    converters = get_converters()
    text = route.removeprefix("^")
    text = re.sub(r"(\$|\\Z)$", "", text)

    def parameter(match: re.Match[str]) -> str:
        converter = converters.get(match["converter"] or "str")
        regex = getattr(converter, "regex", "[^/]+")
        return "{" + match["name"] + _kind(regex) + "}"

    def group(match: re.Match[str]) -> str:
        return "{" + match["name"] + _kind(match["pattern"]) + "}"

    # Named groups first: `(?P<year>...)` holds what looks like a `<year>` route parameter.
    text = _NAMED_GROUP.sub(group, text)
    text = _ROUTE_PARAMETER.sub(parameter, text)
    return "/" + text


def _kind(regex: str) -> str:
    if regex == "[0-9]+":
        return ":int"
    if regex == "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}":
        return ":uuid"  # lower case with hyphens only: fewer than the table's {x:uuid} takes
    return ":path" if may_span_segments(regex) else ""
