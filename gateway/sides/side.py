"""What the gateway needs of a side, whatever serves it.

A side is an application the gateway sends requests to. Two kinds are served in-process: the
legacy WSGI app through the bridge (gateway.sides.wsgi) and the new ASGI app as it is
(gateway.sides.asgi); the third is a service at a URL, served by another process
(gateway.sides.http). Everything above this layer calls a side through its `app` and reads
what it serves through this protocol only.
"""

from __future__ import annotations

from typing import Any, Protocol

from starlette.types import ASGIApp, Scope

from gateway.side_names import SideName


class Side(Protocol):
    @property
    def name(self) -> SideName: ...

    @property
    def app(self) -> ASGIApp:
        """What serves the side's requests (and its lifespan), as an ASGI app."""

    @property
    def source(self) -> object | None:
        """The application object as configured (None: there is none), for reading its code.

        For a side served over HTTP: the app's code when it is given to be read, else the
        routes and document its OpenAPI document describes (gateway.sides.service_routes).
        """

    @property
    def takes_websockets(self) -> bool: ...

    @property
    def in_process(self) -> bool:
        """Whether the side runs in the gateway's process (its health is the process's)."""

    def refresh(self) -> None:
        """Read again what the side says it serves; called (in a thread) before each table
        is built. Only a side served over HTTP has anything to read: its OpenAPI document."""

    def route_of(self, scope: Scope) -> str | None:
        """The side's own route template for a request it answered (its label namer).

        Given the scope after the side has answered, so a router that records its match
        (Starlette sets scope["route"]) costs nothing more.
        """

    def serves(self, path: str, method: str) -> bool | None:
        """Whether the side has a route for `method` at `path`; None: it does not list them."""

    def openapi(self) -> dict[str, Any] | None:
        """The side's own OpenAPI document, when it publishes one."""

    def health_problem(self) -> str | None:
        """Why the side cannot serve now (e.g. its threads are stuck), or None."""
