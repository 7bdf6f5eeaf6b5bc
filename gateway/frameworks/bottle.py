"""Bottle: routes from `app.routes`, names from Bottle's own router (`Router.match`).

Bottle's `int` filter takes `-?\\d+` and `float` `-?[\\d.]+`: a table's `{x:int}` takes neither
"-1" nor "1.5", so both become `{x}`. A mounted Bottle app's routes are copied into the
parent's router by Bottle itself; a mounted WSGI app is one route, `/prefix/{_n:path}`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from gateway.frameworks.router import Parameter, Route, cached_namer, may_span_segments
from gateway.routing.endpoints import RouteNamer, unwrap

_BOTTLE_METHODS = {"ANY": "*", "PROXY": "*"}


def find(app: object) -> BottleRouter | None:
    if "bottle" not in sys.modules:
        return None
    import bottle

    for candidate in unwrap(app):
        if isinstance(candidate, bottle.Bottle):
            return BottleRouter(candidate)
    return None


@dataclass(frozen=True, slots=True)
class BottleRouter:
    app: Any  # bottle.Bottle
    framework: str = "bottle"

    def routes(self) -> list[Route]:
        return _routes(self.app)

    def namer(self) -> RouteNamer:
        app = self.app

        def name(path: str, method: str) -> str | None:
            return _name(app, path, method)

        return cached_namer(name)


def _routes(app: Any) -> list[Route]:
    found = []
    for route in app.routes:
        template, parameters = rule_template(app.router, route.rule)
        found.append(
            Route(
                template=template,
                methods=frozenset({_BOTTLE_METHODS.get(route.method, route.method)}),
                name=route.name or getattr(route.callback, "__qualname__", route.rule),
                view=route.callback,
                parameters=parameters,
            )
        )
    return found


def _name(app: Any, path: str, method: str) -> str | None:
    from bottle import HTTPError

    try:
        route, _ = app.router.match({"PATH_INFO": path, "REQUEST_METHOD": method})
    except HTTPError:
        return None  # 404 or 405: no route for it
    template, _ = rule_template(app.router, route.rule)
    return template


def rule_template(router: Any, rule: str) -> tuple[str, tuple[Parameter, ...]]:
    """`/items/<item_id:int>` -> `/items/{item_id}`, with the parameter typed for OpenAPI."""
    parts: list[str] = []
    parameters: list[Parameter] = []
    # Bottle's own tokenizer: (text, None, None) or (name, filter, config); both syntaxes.
    for index, (key, mode, conf) in enumerate(router._itertokens(rule)):
        if mode is None:
            parts.append(key)
            continue
        name = key or f"_{index}"
        kind, parameter = _wildcard(router, name, mode, conf)
        parts.append("{" + name + kind + "}")
        parameters.append(parameter)
    return "".join(parts), tuple(parameters)


def _wildcard(router: Any, name: str, mode: str, conf: str | None) -> tuple[str, Parameter]:
    if mode == "int":
        return "", Parameter(name, "integer")
    if mode == "float":
        return "", Parameter(name, "number")
    if mode == "path":
        return ":path", Parameter(name, description="the rest of the path: it may hold '/'")
    regex = router.default_pattern
    if mode == "re" and conf:
        regex = conf
    elif mode != "re" and mode in router.filters:
        regex, _, _ = router.filters[mode](conf)
    kind = ":path" if may_span_segments(regex) else ""
    return kind, Parameter(name, pattern=f"^{regex}$")
