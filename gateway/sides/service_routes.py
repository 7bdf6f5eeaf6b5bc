"""What a side served over HTTP says it serves: its OpenAPI document, read as a router.

The gateway cannot read a service's code, so its routes come from the document it publishes.
They are held as Starlette routes, in the document's order, with the document's own templates
(`/items/{item_id}`): that is how FastAPI's router holds them too, so a request is labelled with
the same template whether the new app is served in-process or over HTTP, and the parts that
read an in-process app's routes (`gateway routes`, the inventory, the merged OpenAPI document)
read a `ServiceRoutes` the same way, through its `routes` and `openapi()`.
"""

from __future__ import annotations

import copy
import json
import logging
import urllib.request
from typing import Any

from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from gateway.frameworks.starlette import routes_namer

logger = logging.getLogger("gateway")

_OPERATIONS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
FETCH_TIMEOUT = 5.0  # seconds: a document that takes longer is missing for this load
# The side's URL says where the document is: no HTTP_PROXY meant for calls elsewhere.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ServiceRoutes:
    def __init__(self, document: dict[str, Any], url: str) -> None:
        self._document = document
        self.url = url
        self.routes: list[BaseRoute] = []
        for path, item in (document.get("paths") or {}).items():
            if not isinstance(item, dict):
                continue
            methods = [method.upper() for method in item if method in _OPERATIONS]
            if isinstance(path, str) and path.startswith("/") and methods:
                name = _operation_id(item, methods[0]) or path
                self.routes.append(Route(path, _described_only, methods=methods, name=name))
        self.namer = routes_namer(self.routes)

    def openapi(self) -> dict[str, Any]:
        return copy.deepcopy(self._document)


def fetch(url: str) -> ServiceRoutes | None:
    """The document at `url` as routes, or None (logged) when it cannot be had."""
    try:
        with _OPENER.open(url, timeout=FETCH_TIMEOUT) as response:
            document = json.load(response)
    except (OSError, ValueError) as exc:  # urllib's errors are OSErrors
        logger.warning(
            "no OpenAPI document at %s (%s): requests are labelled by the table's templates",
            url,
            exc,
        )
        return None
    if not isinstance(document, dict) or not isinstance(document.get("paths"), dict):
        logger.warning("%s is not an OpenAPI document (no paths): not used", url)
        return None
    return ServiceRoutes(document, url)


def _operation_id(item: dict[str, Any], method: str) -> str | None:
    operation = item.get(method.lower())
    found = operation.get("operationId") if isinstance(operation, dict) else None
    return found if isinstance(found, str) else None


async def _described_only(scope: Scope, receive: Receive, send: Send) -> None:
    """These routes describe a service; they are never called (the service answers)."""
    raise RuntimeError("a route read from an OpenAPI document is never called")
