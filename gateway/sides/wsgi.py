"""A side served in-process by a WSGI application (the legacy app) through the WSGI bridge."""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Scope

from gateway.frameworks import legacy_namer
from gateway.side_names import SideName
from gateway.wsgi import WSGIBridge


class WSGISide:
    def __init__(self, name: SideName, bridge: ASGIApp, source: object) -> None:
        self.name = name
        self.app = bridge  # the gateway's WSGIBridge, or a2wsgi's WSGIMiddleware
        self.source = source
        self._namer = legacy_namer(source)

    @property
    def takes_websockets(self) -> bool:
        return False  # WSGI has no WebSockets

    @property
    def in_process(self) -> bool:
        return True

    def refresh(self) -> None:
        pass  # its routes are read from the app itself, which does not change

    def route_of(self, scope: Scope) -> str | None:
        return self._namer(scope["path"][len(scope.get("root_path", "")) :], scope["method"])

    def serves(self, path: str, method: str) -> bool | None:
        return None  # the legacy app is the baseline: nothing is checked against it

    def openapi(self) -> dict[str, Any] | None:
        return None  # the guide reads the legacy app's code instead (gateway.guide)

    def health_problem(self) -> str | None:
        if isinstance(self.app, WSGIBridge):
            return self.app.health_problem()
        return None
