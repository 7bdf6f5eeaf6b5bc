"""Whether the route table agrees with each side's own router: no entry captures an endpoint it
was not written for.

The most common shape of a Flask API: `GET /api/articles/feed` beside `/api/articles/<slug>`,
two views, and Werkzeug matches the literal first. An entry `path: /api/articles/{slug},
target: new` matches `/api/articles/feed` too: it would send the feed to the new side, which
answers it as the article named "feed", and in shadow the feed's differences would be filed
under `{slug}`. Nothing in the routes file says so; only the side's router knows.

An entry is *written for* the endpoints of a side whose template is the entry's path (parameter
names aside). It *captures* a path when the table picks it there; if that side's own router
sends the path to an endpoint with another template (a literal, or a more specific rule), the
entry disagrees with the router. The cure is an entry for that endpoint's path, which the table
then prefers (gateway check says which path).

What is checked, and why only that:

- Entries that reach the new side (served, canary, match, shadowed). An entry that leaves its
  requests to legacy changes nothing for the view they reach.
- On each side whose router can be read: the legacy app's through its framework's adapter
  (gateway.frameworks), the new app's through Starlette's (gateway.frameworks.starlette). The
  matching is always the framework's own; the paths asked about are samples of the endpoints
  both apps list, for the methods each lists.
- An entry written for no endpoint of a side (a pattern such as `/api/{rest:path}`) is meant to
  capture several: it is not checked on that side.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

from starlette.routing import BaseRoute

from gateway.frameworks import find_router
from gateway.frameworks import starlette as starlette_adapter
from gateway.frameworks.router import LEGACY_DEFAULT_ROUTE, LegacyRouter
from gateway.routing.endpoints import Endpoint, RouteNamer, starlette_endpoints, starlette_routes
from gateway.routing.table import RouteEntry, RouteTable, TableError
from gateway.routing.templates import SegmentKind, TemplateError, parse_template
from gateway.side_names import LEGACY, NEW, SideName

Shape = tuple[tuple[SegmentKind, str], ...]

# The methods asked about for an endpoint that leaves methods to its view (Django, Pyramid).
PROBED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# A second sample per endpoint, with words where the first has digits: a router that sends
# `/a/1` to `/a/<int:id>` sends `/a/a` to its `/a/<name>` sibling.
_PLAIN_PARAMETER = re.compile(r"\{\w+(?::(?:str|path))?\}")


@dataclass(frozen=True, slots=True)
class Conflict:
    """An entry that captures a path its side's router sends to another endpoint."""

    side: SideName
    entry: RouteEntry
    written_for: str  # the side's endpoints whose template is the entry's path, by name
    captured: str  # the endpoint the side's router sends `path` to, by name
    template: str  # its template
    path: str  # a path the entry captures
    methods: tuple[str, ...]
    # The path of an entry the table would pick for `path` instead; None when none would: the
    # entry is already the most specific, and the side's own order of routes lets another
    # (declared before) take the path (Django, Pyramid, Starlette match in declaration order).
    fix: str | None

    def message(self) -> str:
        methods = ",".join(self.methods)
        found = (
            f"{self.entry.describe()} (target {self.entry.target}) captures {methods} "
            f"{self.path}, which the {self.side} app's own router sends to {self.captured} "
            f"({self.template}), not to {self.written_for}, the endpoint the entry is written for"
        )
        if self.fix is None:
            return (
                f"{found}; no entry can tell them apart: in the {self.side} app, declare the "
                f"route of {self.written_for} before that of {self.captured}"
            )
        # A legacy endpoint stays where it is with a legacy entry; a new-only one has no such.
        target = "target legacy keeps it where it is" if self.side == LEGACY else "its own target"
        return f"{found}: add an entry for path {self.fix} ({target})"


class _SideRouter:
    """One side's endpoints, and its router's answer for every path asked about."""

    def __init__(self, side: SideName, endpoints: list[Endpoint], namer: RouteNamer) -> None:
        self.side = side
        self.endpoints = endpoints
        self.by_shape: dict[Shape, list[Endpoint]] = {}
        for endpoint in endpoints:
            shape = _shape(endpoint.template)
            if shape is not None:
                self.by_shape.setdefault(shape, []).append(endpoint)
        self.namer = namer
        self.answers: dict[tuple[str, str], str] = {}  # (path, method) -> endpoint's template

    def ask(self, probes: Iterable[tuple[str, str]]) -> None:
        for path, method in probes:
            template = self.namer(path, method)
            if template is not None and template != LEGACY_DEFAULT_ROUTE:
                self.answers[path, method] = template

    def written_for(self, shape: Shape) -> list[Endpoint]:
        return self.by_shape.get(shape, [])

    def names(self, template: str, method: str) -> str:
        found = [e for e in self.endpoints if e.template == template]
        serving = [e for e in found if method in e.methods or "*" in e.methods] or found
        return _names(serving) or template


class RouterAgreement:
    """Both sides' routers, asked once about every sample path; then any table is checked."""

    def __init__(self, legacy: LegacyRouter | None, new_routes: list[BaseRoute] | None) -> None:
        sides = []
        if legacy is not None:
            endpoints = [route.endpoint() for route in legacy.routes()]
            sides.append(_SideRouter(LEGACY, endpoints, legacy.namer()))
        if new_routes is not None:
            namer = starlette_adapter.routes_namer(new_routes)
            sides.append(_SideRouter(NEW, starlette_endpoints(new_routes), namer))
        # Every side is asked about every path: a path only the new app lists is one the
        # legacy app's router may still send somewhere, and the other way round.
        self.probes = sorted(_probes(e for side in sides for e in side.endpoints))
        for side in sides:
            side.ask(self.probes)
        self.sides = tuple(sides)

    @classmethod
    def of(cls, legacy_app: object, new_app: object | None) -> RouterAgreement:
        """The agreement of the two applications' routers (a side whose router cannot be read
        is left out)."""
        new_routes = starlette_routes(new_app) if new_app is not None else None
        return cls(find_router(legacy_app), new_routes)

    def conflicts(self, table: RouteTable) -> list[Conflict]:
        found: dict[tuple[SideName, int, str], list[tuple[str, str]]] = {}
        for path, method in self.probes:
            entry = table.match(path, method)
            if entry is None or not entry.options.reaches_new:
                continue
            for router in self.sides:
                template = router.answers.get((path, method))
                if template is not None and _disagrees(router, entry, template):
                    found.setdefault((router.side, entry.index, template), []).append(
                        (path, method)
                    )
        entries = {entry.index: entry for entry in table.entries}
        by_side = {router.side: router for router in self.sides}
        return [
            _conflict(by_side[side], entries[index], template, probes)
            for (side, index, template), probes in found.items()
        ]


def _disagrees(router: _SideRouter, entry: RouteEntry, template: str) -> bool:
    shape = entry.template.shape
    return _shape(template) != shape and bool(router.written_for(shape))


def _conflict(
    router: _SideRouter,
    entry: RouteEntry,
    template: str,
    probes: list[tuple[str, str]],
) -> Conflict:
    path = probes[0][0]
    methods = tuple(sorted({method for probe_path, method in probes if probe_path == path}))
    return Conflict(
        side=router.side,
        entry=entry,
        written_for=_names(router.written_for(entry.template.shape)),
        captured=router.names(template, methods[0]),
        template=template,
        path=path,
        methods=methods,
        fix=next((fix for fix in (template, path) if _picked(entry, fix, path, methods[0])), None),
    )


def _picked(entry: RouteEntry, template: str, path: str, method: str) -> bool:
    """Whether an entry for `template`, added to the table, would be picked for `path`.

    Asked of a table of two: `entry` is the table's pick for `path`, so it beats every other
    entry there, and the table's order of entries for one path is a lexicographic one (segment
    by segment, literal first): whatever beats `entry` beats them all too.
    """
    try:
        added = RouteEntry(parse_template(template), None, entry.options, entry.index + 1)
        trial = RouteTable([entry, added])
    except (TemplateError, TableError):
        return False
    return trial.match(path, method) is added


def _probes(endpoints: Iterable[Endpoint]) -> set[tuple[str, str]]:
    probes: set[tuple[str, str]] = set()
    for endpoint in endpoints:
        if not endpoint.template.startswith("/"):
            continue  # a route no template can write ("*"): no path to ask about
        methods = PROBED_METHODS if "*" in endpoint.methods else endpoint.methods
        words = _PLAIN_PARAMETER.sub("a", endpoint.template)
        for path in {endpoint.sample, words}:
            probes.update((path, method) for method in methods)
    return probes


@functools.lru_cache(maxsize=4096)
def _shape(template: str) -> Shape | None:
    try:
        return parse_template(template).shape
    except TemplateError:
        return None  # a route the table cannot write: it is nobody's template


def _names(endpoints: Iterable[Endpoint]) -> str:
    return ", ".join(dict.fromkeys(endpoint.name for endpoint in endpoints))
