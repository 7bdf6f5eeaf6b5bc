"""A tiny Pyramid application using URL dispatch: patterns with regexes and a remainder."""

from __future__ import annotations

from typing import Any

from pyramid.config import Configurator
from pyramid.request import Request


def answer(request: Request) -> dict[str, Any]:
    return {"app": "pyramid", "path": request.path}


def _build() -> Any:
    with Configurator() as config:
        for name, pattern, methods in [
            ("health", "/health", None),
            ("items", "/api/items", ("GET", "POST")),
            ("export", "/api/items/export", None),
            ("item", r"/api/items/{item_id:\d+}", None),
            ("slashed", "/s/{name}/", None),
            ("files", "/files/*subpath", None),
        ]:
            config.add_route(name, pattern, request_method=methods)
            config.add_view(answer, route_name=name, renderer="json")
        return config.make_wsgi_app()


app = _build()
