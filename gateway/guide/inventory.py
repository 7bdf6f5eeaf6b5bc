"""The inventory of legacy endpoints: one record per method and path, with what the endpoint
depends on (for a Flask app: its view, hooks, `g`, `request`, `session`, `current_app`,
aborts), where the route table sends it, its traffic, and a suggested migration order.

The expensive part (listing and static analysis) is done once: `Catalogue.build()`. Placing the
endpoints in a route table and adding traffic is cheap, so the admin API does it per request
with the table in force and the gateway's own metrics.
"""

from __future__ import annotations

import importlib.util
import inspect
import logging
from dataclasses import dataclass, field
from typing import Any

from starlette.routing import BaseRoute

from gateway.behaviours.registry import BEHAVIOURS
from gateway.frameworks import find_router
from gateway.frameworks.router import ANY_METHOD, Parameter
from gateway.guide.flask_analysis import Analyzer, Facts
from gateway.guide.flask_views import function_ref, hooks_for, location, view_function
from gateway.guide.package_index import PackageIndex
from gateway.guide.traffic import Traffic
from gateway.routing.endpoints import starlette_routes, starlette_serves, unwrap
from gateway.routing.table import RouteTable

logger = logging.getLogger("gateway")

# What the parity of an endpoint would be read from: the shadow ledger, which does not exist
# yet. Until it does, `parity` is always null.
PARITY_SOURCE = None


@dataclass(frozen=True, slots=True)
class Analysed:
    """A function the analysis read: where it is, and what it (and its callees) depend on."""

    function: str
    file: str | None
    line: int | None
    facts: Facts | None  # None: outside the application's package, not analysed

    def as_dict(self) -> dict[str, Any]:
        return {"function": self.function, "file": self.file, "line": self.line}


@dataclass(frozen=True, slots=True)
class HookRecord:
    kind: str
    scope: str
    handles: str | None
    analysed: Analysed

    def as_dict(self) -> dict[str, Any]:
        facts = self.analysed.facts.as_dict() if self.analysed.facts else None
        described = {"kind": self.kind, "scope": self.scope, **self.analysed.as_dict()}
        if self.handles is not None:
            described["handles"] = self.handles
        return {**described, **(facts or {"analysed": False})}


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One legacy endpoint (a method on a path template), as the analysis found it."""

    method: str
    path: str
    name: str
    sample: str
    blueprint: str | None
    view: Analysed | None
    hooks: tuple[HookRecord, ...]
    parameters: tuple[Parameter, ...]
    docstring: str | None
    new_app_has_route: bool

    @property
    def facts(self) -> Facts | None:
        return self.view.facts if self.view is not None else None


@dataclass(frozen=True, slots=True)
class Placement:
    """Where the route table sends an endpoint."""

    target: str  # "legacy", "new", "canary 25%", "shadow (legacy answers)", "mixed"
    entry: str | None  # the table entry's path, or None for the table's default
    served_by_new: bool  # every request answered by the new side


@dataclass(slots=True)
class Catalogue:
    framework: str | None
    endpoints: list[Endpoint] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @classmethod
    def build(cls, legacy_app: object, new_app: object | None) -> Catalogue:
        router = find_router(legacy_app)
        if router is None:
            return cls(None, notes=["the legacy app's framework is not one the gateway reads"])
        new_routes = starlette_routes(new_app) if new_app is not None else None
        reader = _Reader(legacy_app) if router.framework == "flask" else None
        catalogue = cls(router.framework)
        for route in router.routes():
            for method in sorted(route.methods):
                view = route.view
                catalogue.endpoints.append(
                    Endpoint(
                        method=method,
                        path=route.template,
                        name=route.name,
                        sample=route.sample,
                        blueprint=route.blueprint,
                        view=reader.view(view, method) if reader and view else _plain(view),
                        hooks=reader.hooks(route.blueprint) if reader else (),
                        parameters=route.parameters,
                        docstring=inspect.getdoc(view) if view is not None else None,
                        new_app_has_route=_new_serves(new_routes, route.sample, method),
                    )
                )
        if reader is None:
            catalogue.notes.append(
                f"{router.framework}: views are listed, not analysed (the analysis reads Flask)"
            )
        return catalogue


def _new_serves(routes: list[BaseRoute] | None, sample: str, method: str) -> bool:
    if routes is None:
        return False
    return starlette_serves(routes, sample, "GET" if method == ANY_METHOD else method)


def _plain(view: Any) -> Analysed | None:
    if view is None:
        return None
    ref = function_ref(view)
    where = location(view)
    return Analysed(
        str(ref) if ref else repr(view),
        str(where[0]) if where else None,
        where[1] if where else None,
        None,
    )


class _Reader:
    """Reads a Flask app's views and hooks, analysing those in the application's package."""

    def __init__(self, legacy_app: object) -> None:
        self.app = next((c for c in unwrap(legacy_app) if hasattr(c, "url_map")), None)
        self.analyzers: dict[str, Analyzer] = {}
        self.package = _package_of(self.app)
        self._hooks: dict[str | None, tuple[HookRecord, ...]] = {}

    def analysed(self, function: Any) -> Analysed:
        ref = function_ref(function)
        where = location(function)
        package = self.package or (ref.module.partition(".")[0] if ref else None)
        if ref is None or package is None or not _within(ref.module, package):
            return _plain(function) or Analysed(repr(function), None, None, None)
        analyzer = self.analyzers.get(package)
        if analyzer is None:
            analyzer = self.analyzers[package] = Analyzer(PackageIndex(package))
        file = analyzer.index.relative(where[0]) if where else None
        return Analysed(str(ref), file, where[1] if where else None, analyzer.facts(ref))

    def view(self, view: Any, method: str) -> Analysed:
        return self.analysed(view_function(view, method))

    def hooks(self, blueprint: str | None) -> tuple[HookRecord, ...]:
        if blueprint not in self._hooks:
            self._hooks[blueprint] = tuple(
                HookRecord(hook.kind, hook.scope, hook.handles, self.analysed(hook.function))
                for hook in hooks_for(self.app, blueprint)
            )
        return self._hooks[blueprint]


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _package_of(app: Any) -> str | None:
    """The application's top-level package, when Flask's `import_name` names an importable one
    (a module-level app may be named anything)."""
    name = getattr(app, "import_name", None)
    if not isinstance(name, str) or not name:
        return None
    top = name.partition(".")[0]
    try:
        return top if importlib.util.find_spec(top) is not None else None
    except (ImportError, ValueError):
        return None


# --- placing, traffic, order -------------------------------------------------------------------


def place(table: RouteTable, sample: str, method: str) -> Placement:
    """Where `table` sends `method` on `sample`, described as `gateway routes` does."""
    entry = table.match(sample, "GET" if method == ANY_METHOD else method)
    if entry is None:
        return Placement(table.default, None, table.default == "new")
    summary = BEHAVIOURS[entry.target].summary(entry)
    return Placement(summary, entry.path, entry.options.moved)


def coupling(endpoint: Endpoint) -> int | None:
    """How much request-local state moving the endpoint means re-creating on the new side."""
    facts = endpoint.facts
    if facts is None:
        return None
    hooks = sum(1 for hook in endpoint.hooks if hook.kind == "before_request")
    session = facts.session_reads | facts.session_writes
    return (
        len(facts.g_reads)
        + len(facts.g_writes)
        + len(session)
        + len(facts.current_app)
        + len(facts.unresolved)
        + hooks
    )


def records(catalogue: Catalogue, table: RouteTable, traffic: Traffic | None) -> dict[str, Any]:
    """The inventory as JSON: `{"endpoints": [...], "summary": {...}}`."""
    rows = []
    for endpoint in catalogue.endpoints:
        placement = place(table, endpoint.sample, endpoint.method)
        rows.append(_record(endpoint, placement, traffic))
    _suggest_order(rows)
    served = [row for row in rows if row["served_by_new"]]
    return {
        "framework": catalogue.framework,
        "notes": catalogue.notes,
        "parity_source": PARITY_SOURCE,
        "summary": {
            "endpoints": len(rows),
            "served_by_new": len(served),
            "endpoint_share_new": len(served) / len(rows) if rows else None,
            "traffic_share_new": (
                traffic.new_total / traffic.total if traffic is not None and traffic.total else None
            ),
        },
        "endpoints": rows,
    }


def _record(endpoint: Endpoint, placement: Placement, traffic: Traffic | None) -> dict[str, Any]:
    facts = endpoint.facts.as_dict() if endpoint.facts is not None else dict.fromkeys(_FACTS)
    view = endpoint.view.as_dict() if endpoint.view is not None else None
    if view is not None:
        view["blueprint"] = endpoint.blueprint
    return {
        "method": endpoint.method,
        "path": endpoint.path,
        "name": endpoint.name,
        "view": view,
        "hooks": [hook.as_dict() for hook in endpoint.hooks],
        **facts,
        "new_app_has_route": endpoint.new_app_has_route,
        "target": placement.target,
        "table_entry": placement.entry,
        "served_by_new": placement.served_by_new,
        "parity": None,
        "traffic": _traffic(endpoint, traffic),
        "coupling": coupling(endpoint),
        "order": None,
        "reason": None,
    }


_FACTS = ("g_reads", "g_writes", "request", "session", "current_app", "aborts", "unresolved")


def _traffic(endpoint: Endpoint, traffic: Traffic | None) -> dict[str, Any] | None:
    if traffic is None:
        return None
    found = traffic.of(endpoint.path, endpoint.method)
    requests = found.requests if found else 0.0
    return {
        "requests": requests,
        "share": requests / traffic.total if traffic.total else 0.0,
        "p99_seconds": found.p99() if found else None,
    }


def _suggest_order(rows: list[dict[str, Any]]) -> None:
    """Busiest and least coupled first: by share of traffic / (1 + coupling), then coupling.

    Without traffic figures the order is by coupling alone. Endpoints already served by the
    new side get no place; those that could not be analysed come last.
    """

    def key(row: dict[str, Any]) -> tuple[int, float, int, str, str]:
        level = row["coupling"]
        share = row["traffic"]["share"] if row["traffic"] else 0.0
        unknown = level is None
        score = share / (1 + (level or 0))
        return (int(unknown), -score, level or 0, row["path"], row["method"])

    candidates = sorted((row for row in rows if not row["served_by_new"]), key=key)
    for position, row in enumerate(candidates, start=1):
        row["order"] = position
        row["reason"] = _reason(row)


def _reason(row: dict[str, Any]) -> str:
    parts = []
    if row["traffic"] is not None:
        parts.append(f"{100 * row['traffic']['share']:.1f}% of traffic")
    if row["coupling"] is None:
        parts.append("not analysed")
        return "; ".join(parts)
    parts.append(f"coupling {row['coupling']}")
    state = []
    if row["g_reads"]:
        state.append("reads g." + ", g.".join(row["g_reads"]))
    session = sorted({*row["session"]["reads"], *row["session"]["writes"]})
    if session:
        state.append("session " + ", ".join(session))
    hooks = [
        h["function"].rpartition(":")[2] for h in row["hooks"] if h["kind"] == "before_request"
    ]
    if hooks:
        state.append("before_request " + ", ".join(hooks))
    if row["unresolved"]:
        state.append(f"{len(row['unresolved'])} place(s) not followed")
    parts.append("; ".join(state) if state else "no request-local state")
    return "; ".join(parts)
