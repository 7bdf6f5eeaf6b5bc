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
import sys
from dataclasses import dataclass, field
from typing import Any

from starlette.routing import BaseRoute
from werkzeug.exceptions import HTTPException

from gateway.behaviours.registry import BEHAVIOURS
from gateway.frameworks import find_router
from gateway.frameworks.router import ANY_METHOD, Parameter
from gateway.guide.extensions import KNOWN_HOOKS, LOGIN_REQUIRED, effect, extension_name
from gateway.guide.flask_analysis import Analyzer, Facts
from gateway.guide.flask_views import (
    context_processors,
    function_ref,
    hooks_for,
    location,
    view_function,
)
from gateway.guide.package_index import FunctionRef, PackageIndex
from gateway.guide.request_bodies import declared_request, request_body
from gateway.guide.templates import TemplateReader
from gateway.guide.traffic import Traffic
from gateway.parity import readiness
from gateway.parity.readiness import RouteParity
from gateway.parity.store import LedgerError, LedgerMissing, ledger_url, shown
from gateway.routing.endpoints import starlette_routes, starlette_serves, unwrap
from gateway.routing.table import RouteTable

logger = logging.getLogger("gateway")


@dataclass(frozen=True, slots=True)
class LedgerParity:
    """The shadow ledger's figures per route-table entry, or why there are none."""

    source: str | None  # the ledger, as shown (no password); None when there is none
    routes: dict[str, RouteParity] = field(default_factory=dict)
    note: str | None = None

    @classmethod
    def read(cls, url: str | None) -> LedgerParity:
        if url is None:
            return cls(None, note="parity: no ledger configured, so the field is null")
        shown_url = shown(ledger_url(url))
        try:
            found = readiness.read(url, samples=False)
        except LedgerMissing:
            return cls(None, note=f"parity: no shadow ledger yet at {shown_url}")
        except LedgerError as exc:
            return cls(None, note=f"parity: the ledger cannot be read ({exc})")
        return cls(shown_url, {parity.route: parity for parity in found})

    def of(self, entry: str | None) -> dict[str, Any] | None:
        found = self.routes.get(entry) if entry is not None else None
        if found is None:
            return None
        return {
            "route": found.route,
            "compared": found.compared,
            "match_ratio": found.match_ratio,
            "mismatched": found.mismatched,
            "last_mismatch": found.last_mismatch,
        }


@dataclass(frozen=True, slots=True)
class Analysed:
    """A function the analysis read: where it is, and what it (and its callees) depend on."""

    function: str
    file: str | None
    line: int | None
    facts: Facts | None  # None: outside the application's package, not analysed
    own: bool = False  # in the application's package (else an extension's or Flask's)

    def as_dict(self) -> dict[str, Any]:
        return {"function": self.function, "file": self.file, "line": self.line}


@dataclass(frozen=True, slots=True)
class HookRecord:
    kind: str
    scope: str
    handles: str | None
    analysed: Analysed
    exception: type | None = None  # an error handler's exception class

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
    request_body: dict[str, Any] | None = None  # as OpenAPI's requestBody, where declared

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
                hooks = reader.hooks(route.blueprint) if reader else ()
                analysed = reader.view(view, method, hooks) if reader and view else _plain(view)
                hooks += reader.loaders(analysed, hooks) if reader else ()
                hooks += reader.context_processors(route.blueprint, analysed) if reader else ()
                catalogue.endpoints.append(
                    Endpoint(
                        method=method,
                        path=route.template,
                        name=route.name,
                        sample=route.sample,
                        blueprint=route.blueprint,
                        view=analysed,
                        hooks=hooks,
                        parameters=route.parameters,
                        docstring=inspect.getdoc(view) if view is not None else None,
                        new_app_has_route=_new_serves(new_routes, route.sample, method),
                        request_body=(
                            request_body(view) if view and method in _BODY_METHODS else None
                        ),
                    )
                )
        if reader is None:
            catalogue.notes.append(
                f"{router.framework}: views are listed, not analysed (the analysis reads Flask)"
            )
        return catalogue


_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE", ANY_METHOD})


def _new_serves(routes: list[BaseRoute] | None, sample: str, method: str) -> bool:
    if routes is None:
        return False
    return starlette_serves(routes, sample, "GET" if method == ANY_METHOD else method)


def _plain(view: Any, facts: Facts | None = None) -> Analysed | None:
    if view is None:
        return None
    ref = function_ref(view)
    where = location(view)
    return Analysed(
        str(ref) if ref else repr(view),
        str(where[0]) if where else None,
        where[1] if where else None,
        facts,
    )


class _Reader:
    """Reads a Flask app's views and hooks, analysing those in the application's package."""

    def __init__(self, legacy_app: object) -> None:
        self.app = next((c for c in unwrap(legacy_app) if hasattr(c, "url_map")), None)
        self.analyzers: dict[str, Analyzer] = {}
        self.package = _package_of(self.app)
        self.templates = TemplateReader(self.app)
        self._hooks: dict[str | None, tuple[HookRecord, ...]] = {}

    def analysed(self, function: Any) -> Analysed:
        ref = function_ref(function)
        where = location(function)
        package = self.package or (ref.module.partition(".")[0] if ref else None)
        if ref is None or package is None or not _within(ref.module, package):
            return _plain(function, _extension_facts(ref)) or Analysed(
                repr(function), None, None, None
            )
        analyzer = self.analyzers.get(package)
        if analyzer is None:
            analyzer = self.analyzers[package] = Analyzer(PackageIndex(package))
        file = analyzer.index.relative(where[0]) if where else None
        facts = Facts()
        facts.add(analyzer.facts(ref))
        # A view built by a decorator factory without functools.wraps (or in a loop): the
        # functions its closure holds are what it calls.
        for inner in _closure_functions(function):
            inner_ref = function_ref(inner)
            if inner_ref is not None and _within(inner_ref.module, package):
                facts.add(analyzer.facts(inner_ref))
        return Analysed(str(ref), file, where[1] if where else None, facts, own=True)

    def view(self, view: Any, method: str, hooks: tuple[HookRecord, ...]) -> Analysed:
        found = self.analysed(view_function(view, method))
        if found.facts is None:
            return found
        facts = found.facts
        facts.request.update(declared_request(view))  # webargs reads the request for it
        facts.add(self.templates.facts(facts.templates))
        facts.aborts.update(_handled_statuses(facts.raises, hooks))
        self._globals_class(facts)
        self._login_required(facts)
        facts.g_reads -= facts.g_writes
        return found

    def _login_required(self, facts: Facts) -> None:
        """Flask-Login's `login_required` answers 401, or 302 to the app's login view."""
        if not facts.extensions.get("flask_login", set()) & LOGIN_REQUIRED:
            return
        manager = getattr(self.app, "login_manager", None)
        if getattr(manager, "login_view", None) or getattr(manager, "blueprint_login_views", None):
            facts.returns.add(302)
        else:
            facts.aborts.add(401)

    def _globals_class(self, facts: Facts) -> None:
        """A custom `app_ctx_globals_class`: `g.x` defined there runs the class's code."""
        globals_class = getattr(self.app, "app_ctx_globals_class", None)
        if globals_class is None or globals_class.__module__.startswith("flask"):
            return
        provided = {name for name in facts.g_reads if hasattr(globals_class, name)}
        for name in provided:
            member = inspect.getattr_static(globals_class, name)
            function = member.fget if isinstance(member, property) else member
            if callable(function):
                found = self.analysed(function)
                if found.facts is not None:
                    facts.add(found.facts)
        facts.g_reads -= provided

    def hooks(self, blueprint: str | None) -> tuple[HookRecord, ...]:
        if blueprint not in self._hooks:
            self._hooks[blueprint] = tuple(
                HookRecord(
                    hook.kind,
                    hook.scope,
                    hook.handles,
                    self.analysed(hook.function),
                    hook.exception,
                )
                for hook in hooks_for(self.app, blueprint)
            )
        return self._hooks[blueprint]

    def context_processors(
        self, blueprint: str | None, view: Analysed | None
    ) -> tuple[HookRecord, ...]:
        """Where the view renders a template: the context processors that run for it."""
        if view is None or view.facts is None or not view.facts.templates:
            return ()
        return tuple(
            HookRecord(hook.kind, hook.scope, None, self.analysed(hook.function))
            for hook in context_processors(self.app, blueprint)
        )

    def loaders(
        self, view: Analysed | None, hooks: tuple[HookRecord, ...]
    ) -> tuple[HookRecord, ...]:
        """The app's callbacks an extension runs for an endpoint that uses it (in its view or
        one of the app's hooks): Flask-Login's and Flask-JWT-Extended's user loaders,
        Flask-Babel's locale and time zone selectors."""
        used: set[str] = set()
        for analysed in [view, *(hook.analysed for hook in hooks if hook.kind != "errorhandler")]:
            if analysed is not None and analysed.own and analysed.facts is not None:
                used.update(analysed.facts.extensions)
        found = []
        for extension, kind, owner, attributes in _LOADERS:
            manager = _attribute_path(self.app, owner)
            if extension not in used or manager is None:
                continue
            for attribute in attributes:
                function = getattr(manager, attribute, None)
                loader = self.analysed(function) if callable(function) else None
                if loader is not None and loader.own:  # the app's, not the extension's default
                    found.append(HookRecord(kind, "app", extension, loader))
        return tuple(found)


# Where extensions keep the application's callbacks they run for an endpoint that uses them:
# (extension, hook kind, the manager's path on the app, its callback attributes).
_LOADERS = (
    ("flask_login", "user_loader", "login_manager", ("_user_callback", "_request_callback")),
    (
        "flask_jwt_extended",
        "user_loader",
        "extensions.flask-jwt-extended",
        ("_user_lookup_callback", "_token_in_blocklist_callback"),
    ),
    # Flask-Babel 3+ keeps its configuration in app.extensions; 2.x the selectors on Babel.
    (
        "flask_babel",
        "locale_selector",
        "extensions.babel",
        ("locale_selector", "timezone_selector", "locale_selector_func", "timezone_selector_func"),
    ),
)


def _attribute_path(app: Any, path: str) -> Any:
    owner, _, key = path.partition(".")
    found = getattr(app, owner, None)
    if key and isinstance(found, dict):
        return found.get(key)
    return found


def _closure_functions(function: Any) -> list[Any]:
    cells = getattr(inspect.unwrap(function), "__closure__", None) or ()
    found = []
    for cell in cells:
        try:
            content = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        if inspect.isfunction(content):
            found.append(content)
    return found


def _extension_facts(ref: FunctionRef | None) -> Facts | None:
    """A hook an extension registered: what it is known to do, or at least its name."""
    if ref is None:
        return None
    extension = extension_name(ref.module)
    if extension is None:
        return None
    facts = Facts()
    known = KNOWN_HOOKS.get((extension, ref.qualname))
    # An unknown hook is named by its function (a lambda by the function that made it).
    name = ref.qualname.replace(".<locals>", "").replace(".<lambda>", "")
    name, found = known if known else (name.rpartition(".")[2], None)
    facts.extensions[extension] = {name}
    if found is not None:
        facts.apply(found)
    return facts


def _handled_statuses(raises: dict[str, set[int]], hooks: tuple[HookRecord, ...]) -> set[int]:
    """Statuses of package exceptions that an error handler (or Werkzeug) turns into answers."""
    handled = tuple(hook.exception for hook in hooks if hook.exception is not None)
    statuses: set[int] = set()
    for name, carried in raises.items():
        raised = _class_of(name)
        if raised is None:
            continue
        if issubclass(raised, HTTPException) or (handled and issubclass(raised, handled)):
            statuses |= carried
    return statuses


def _class_of(name: str) -> type | None:
    module, _, qualname = name.partition(":")
    found: Any = sys.modules.get(module)
    for part in qualname.split("."):
        found = getattr(found, part, None)
    return found if isinstance(found, type) else None


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
        + sum(len(names) for names in facts.extensions.values())  # `current_user`: state too
        + hooks
    )


def records(
    catalogue: Catalogue,
    table: RouteTable,
    traffic: Traffic | None,
    parity: LedgerParity | None = None,
) -> dict[str, Any]:
    """The inventory as JSON: `{"endpoints": [...], "summary": {...}}`."""
    parity = parity or LedgerParity(None, note="parity: no ledger read, so the field is null")
    rows = []
    for endpoint in catalogue.endpoints:
        placement = place(table, endpoint.sample, endpoint.method)
        row = _record(endpoint, placement, traffic)
        row["parity"] = parity.of(placement.entry)
        rows.append(row)
    _suggest_order(rows)
    for row in rows:
        del row["_uses"]
    served = [row for row in rows if row["served_by_new"]]
    return {
        "framework": catalogue.framework,
        "notes": [*catalogue.notes, *([parity.note] if parity.note else [])],
        "parity_source": parity.source,
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
    facts["extensions"] = _extensions(endpoint)
    if facts["session"] is not None:
        facts["session"] = _session(endpoint)
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
        # The view's own extension names, for the reason (not hooks': they apply to all).
        "_uses": {
            name: sorted(used)
            for name, used in sorted(endpoint.facts.extensions.items() if endpoint.facts else ())
        },
    }


_FACTS = (
    "g_reads",
    "g_writes",
    "request",
    "session",
    "current_app",
    "aborts",
    "returns",
    "unresolved",
    "extensions",
    "templates",
)


def _session(endpoint: Endpoint) -> dict[str, list[str]]:
    """The view's session keys, and those extensions use for it where its hooks call them
    (`current_user` in a `before_request` that sends anonymous users to the login page)."""
    found = Facts()
    if endpoint.facts is not None:
        found.add(endpoint.facts)
    for hook in endpoint.hooks:
        facts = hook.analysed.facts
        if hook.kind == "errorhandler" or facts is None or not hook.analysed.own:
            continue  # an extension's own hook: its record says what it does
        for extension, names in facts.extensions.items():
            for name in names:
                known = effect(extension, name)
                if known is not None:
                    found.session_reads.update(known.session_reads)
                    found.session_writes.update(known.session_writes)
    return {"reads": sorted(found.session_reads), "writes": sorted(found.session_writes)}


def _extensions(endpoint: Endpoint) -> dict[str, list[str]] | None:
    """Extension -> names used from it, by the view and by every hook that runs for it."""
    found = Facts()
    # Not error handlers: an extension's handlers (Flask-JWT-Extended registers sixteen) run
    # only for its own exceptions, raised where the endpoint uses the extension already.
    hooks = [hook.analysed.facts for hook in endpoint.hooks if hook.kind != "errorhandler"]
    for facts in [endpoint.facts, *hooks]:
        if facts is not None:
            found.add(Facts(extensions=facts.extensions))
    if endpoint.facts is None and not found.extensions:
        return None
    return {name: sorted(used) for name, used in sorted(found.extensions.items())}


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
    view_extensions = row["_uses"]
    if view_extensions:
        state.append(
            "uses "
            + "; ".join(f"{name} {', '.join(used)}" for name, used in view_extensions.items())
        )
    hooks = [
        h["function"].rpartition(":")[2] for h in row["hooks"] if h["kind"] == "before_request"
    ]
    if hooks:
        state.append("before_request " + ", ".join(hooks))
    if row["unresolved"]:
        state.append(f"{len(row['unresolved'])} place(s) not followed")
    parts.append("; ".join(state) if state else "no request-local state")
    return "; ".join(parts)
