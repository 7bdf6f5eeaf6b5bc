"""What an adapter reads from a web framework's router: its routes, and a namer for paths.

Templates are written in FastAPI's syntax (the route table's), whatever the framework: a
converter becomes `{x:int}`, `{x:uuid}` or `{x:path}` only where the framework accepts exactly
the paths the table's converter does, or fewer; otherwise a plain `{x}` (one segment), which
accepts more. So whenever a framework's router maps a path to a route, a table entry with that
route's template matches the path too (tests/gateway/test_path_agreement.py checks it for every
adapter): no spelling of a path can reach a legacy view the table meant to send elsewhere.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway.routing.endpoints import Endpoint, RouteNamer

SAMPLE_UUID = str(uuid.UUID(int=1))
# What every framework answers by itself, so an endpoint is listed by the methods it was given.
AUTOMATIC_METHODS = frozenset({"HEAD", "OPTIONS"})
ANY_METHOD = "*"
_PARAMETER = re.compile(r"\{(?P<name>\w+)(?::(?P<kind>\w+))?\}")
# Strings that a regular expression taking one path segment at most never matches whole.
_SLASHED = ("/", "a/b", "1/2", "a/", "/a", "a/b/c")
NAMER_CACHE_SIZE = 4096
# The route label of a request that reached a legacy app whose router the gateway cannot read
# (no adapter knows its framework, or its router failed): such an app may well have served it,
# so `__unmatched__` ("no route matched") would be false.
LEGACY_DEFAULT_ROUTE = "__legacy_default__"


@dataclass(frozen=True, slots=True)
class Parameter:
    """A path parameter as OpenAPI describes it (a JSON schema for one string segment)."""

    name: str
    type: str = "string"  # "string", "integer" or "number"
    format: str | None = None
    enum: tuple[str, ...] | None = None
    pattern: str | None = None
    minimum: int | None = None
    description: str | None = None

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": self.type}
        for key, value in (
            ("format", self.format),
            ("pattern", self.pattern),
            ("minimum", self.minimum),
        ):
            if value is not None:
                schema[key] = value
        if self.enum is not None:
            schema["enum"] = list(self.enum)
        return schema


@dataclass(frozen=True, slots=True)
class Route:
    """One route of a framework's router, described the same way for every framework."""

    template: str  # FastAPI syntax; "*" for a route whose path cannot be written as a template
    methods: frozenset[str]  # {"*"} when the framework leaves methods to the view
    name: str
    view: Callable[..., Any] | None = None
    parameters: tuple[Parameter, ...] = ()
    blueprint: str | None = None  # Flask's blueprint (dotted when nested), or None
    sample: str = field(default="")

    def __post_init__(self) -> None:
        if not self.sample:
            object.__setattr__(self, "sample", sample_of(self.template))

    def endpoint(self) -> Endpoint:
        return Endpoint(self.template, self.methods, self.name, self.sample)


class LegacyRouter(Protocol):
    """A framework's router as the gateway uses it: to list routes and to name a path's route."""

    @property
    def framework(self) -> str: ...

    def routes(self) -> list[Route]: ...

    def namer(self) -> RouteNamer:
        """The template of the route serving `(path, method)`, or None when no route does."""
        ...


def sample_of(template: str) -> str:
    """A concrete path the template matches: what the route table is asked about."""

    def replace(match: re.Match[str]) -> str:
        return SAMPLE_UUID if match["kind"] == "uuid" else "1"

    return _PARAMETER.sub(replace, template)


def listed_methods(methods: Iterable[str]) -> frozenset[str]:
    given = frozenset(method.upper() for method in methods)
    return given - AUTOMATIC_METHODS or given


def may_span_segments(pattern: str) -> bool:
    """Whether a parameter's regular expression can match text holding a `/`.

    A sample, not a proof: a pattern that takes none of these is written `{x}`, one that takes
    any of them `{x:path}` (only last) — and a route whose pattern is neither cannot be routed
    by a template, so an adapter lists it as it is.
    """
    try:
        compiled = re.compile(pattern)
    except re.error:
        return True
    return any(compiled.fullmatch(text) for text in _SLASHED)


def cached_namer(name: Callable[[str, str], str | None]) -> RouteNamer:
    """`name`, never raising, with recent answers kept.

    Bounded: a framework's matcher costs tens of microseconds, hot paths repeat, and paths
    holding ids do not (so the cache must not grow with them). A router that raises is one the
    gateway cannot read for that path: the request is counted, labelled LEGACY_DEFAULT_ROUTE.
    """

    @functools.lru_cache(maxsize=NAMER_CACHE_SIZE)
    def safe(path: str, method: str) -> str | None:
        try:
            return name(path, method)
        except Exception:
            return LEGACY_DEFAULT_ROUTE

    return safe
