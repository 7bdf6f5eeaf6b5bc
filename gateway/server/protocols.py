"""The HTTP protocols `gateway serve` runs, by name, each with the deployment's head limits."""

from __future__ import annotations

import asyncio
from typing import Literal

from gateway.server.h11_protocol import LimitedH11Protocol
from gateway.server.head import HeadLimits
from gateway.server.httptools_protocol import LimitedHttpToolsProtocol

HttpName = Literal["httptools", "h11"]
PROTOCOLS: dict[HttpName, type[LimitedHttpToolsProtocol | LimitedH11Protocol]] = {
    "httptools": LimitedHttpToolsProtocol,
    "h11": LimitedH11Protocol,
}


def http_protocol(name: HttpName, limits: HeadLimits) -> type[asyncio.Protocol]:
    """The protocol class to give uvicorn's `http=`: uvicorn builds one per connection with
    its own arguments, so the limits travel on the class."""
    base = PROTOCOLS[name]
    attributes = {"limits": limits, "max_head": limits.max_bytes, "__module__": base.__module__}
    return type(base.__name__, (base,), attributes)
