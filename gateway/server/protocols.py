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
_BUILT: dict[str, type[asyncio.Protocol]] = {}


def http_protocol(name: HttpName, limits: HeadLimits) -> type[asyncio.Protocol]:
    """The protocol class to give uvicorn's `http=`: uvicorn builds one per connection with
    its own arguments, so the limits travel on the class.

    The class is named after its limits and found by that name in this module (see
    `__getattr__`), so a pickled uvicorn config, as `--reload` hands its child process, names
    the same class there."""
    key = f"_{name}_{limits.max_bytes}_{round(limits.timeout * 1_000_000)}"
    if key not in _BUILT:
        base = PROTOCOLS[name]
        attributes = {
            "limits": limits,
            "max_head": limits.max_bytes,
            "__module__": __name__,
            "__qualname__": key,
        }
        _BUILT[key] = type(key, (base,), attributes)
    return _BUILT[key]


def __getattr__(key: str) -> type[asyncio.Protocol]:
    """A class `http_protocol` builds, by its name (`_httptools_32768_20000000`)."""
    _, name, size, microseconds = (key.split("_") + ["", "", "", ""])[:4]
    if name in PROTOCOLS and size.isdigit() and microseconds.isdigit():
        limits = HeadLimits(int(size), int(microseconds) / 1_000_000)
        return http_protocol(name, limits)
    raise AttributeError(f"module {__name__!r} has no attribute {key!r}")
