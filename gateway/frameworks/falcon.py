"""Falcon (WSGI `falcon.App`): routes from `falcon.inspect`, names from the compiled router.

Falcon's `int`, `float`, `uuid` and `dt` converters convert with Python (`int("+1")`,
`uuid.UUID("{...}")`), taking spellings the table's `{x:int}` or `{x:uuid}` refuse: they become
`{x}`. `path` stays `{x:path}`.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import Any

from gateway.frameworks.router import Parameter, Route, cached_namer, listed_methods
from gateway.routing.endpoints import RouteNamer, unwrap

_FIELD = re.compile(r"\{(?P<name>[^}:]+)(?::(?P<converter>\w+)(?:\((?P<args>[^)]*)\))?)?\}")
_TYPES = {"int": "integer", "float": "number"}


def find(app: object) -> FalconRouter | None:
    if "falcon" not in sys.modules:
        return None
    import falcon

    for candidate in unwrap(app):
        if isinstance(candidate, falcon.App) and not _is_asgi(candidate):
            return FalconRouter(candidate)
    return None


def _is_asgi(app: Any) -> bool:
    asgi = sys.modules.get("falcon.asgi")
    return asgi is not None and isinstance(app, asgi.App)


@dataclass(frozen=True, slots=True)
class FalconRouter:
    app: Any  # falcon.App
    framework: str = "falcon"

    def routes(self) -> list[Route]:
        from falcon.inspect import inspect_routes

        routes = []
        for info in inspect_routes(self.app):
            methods = listed_methods(m.method for m in info.methods if not m.internal)
            template, parameters = uri_template(info.path)
            routes.append(Route(template, methods, info.class_name, parameters=parameters))
        return routes

    def namer(self) -> RouteNamer:
        # Falcon keeps its router private; `find()` is the router's public interface.
        router = self.app._router

        def name(path: str, method: str) -> str | None:
            found = router.find(path)
            if found is None:
                return None
            template, _ = uri_template(found[3])
            return template

        return cached_namer(name)


def uri_template(template: str) -> tuple[str, tuple[Parameter, ...]]:
    parameters: list[Parameter] = []

    def field(match: re.Match[str]) -> str:
        name, converter = match["name"], match["converter"]
        if converter == "uuid":
            parameters.append(Parameter(name, format="uuid"))
        else:
            parameters.append(Parameter(name, _TYPES.get(converter or "", "string")))
        return "{" + name + (":path" if converter == "path" else "") + "}"

    return "/" + _FIELD.sub(field, template).lstrip("/"), tuple(parameters)
