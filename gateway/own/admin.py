"""The admin surface under `/_gateway/`: a JSON API and the built-in dashboard.

Everything here needs `Authorization: Bearer <GATEWAY_ADMIN_TOKEN>` (compared in constant
time); with no token configured every request is refused with a message saying how to enable
it. Answers are never cached, and nothing under `/_gateway/` is ever routed to either app.

The figures come from the gateway's own Prometheus metrics (aggregated over all worker
processes when there are several), so the dashboard shows what Prometheus would scrape.
Route configuration, guard state and recent mismatches are per worker process: no state is
shared between workers, and the answering worker's `pid` is given with them.
"""

from __future__ import annotations

import hmac
import os
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from importlib import resources
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from starlette.routing import BaseRoute, Route, Router
from starlette.types import Receive, Scope, Send

from gateway.behaviours.registry import BEHAVIOURS
from gateway.behaviours.shadow import SHADOW_OUTCOMES
from gateway.control.reloading import LiveRouteTable
from gateway.control.route_state import RouteStates
from gateway.guide.service import Guide, GuideUnavailable
from gateway.http.headers import get as get_header
from gateway.http.responses import send_json
from gateway.observe.metrics import GatewayMetrics, collect, name_of
from gateway.rollout.admin_actions import PREFIX as ROLLOUT_ACTIONS
from gateway.rollout.admin_actions import rollout_action
from gateway.rollout.describe import describe_rollout
from gateway.routing.table import RouteEntry

PREFIX = "/_gateway"
API_PREFIX = PREFIX + "/api/"
PAGE_PATHS = (PREFIX, PREFIX + "/", PREFIX + "/index.html")
GET = ["GET"]  # Starlette's routes answer HEAD wherever they answer GET
Headers = list[tuple[bytes, bytes]]
OPENAPI_PATH = PREFIX + "/openapi.json"  # the merged document of both apps (gateway.guide)

NO_STORE = [
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
]
# The dashboard talks to its own origin only: no CDN, no third-party requests.
PAGE_POLICY = (
    b"default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    b"img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    b"frame-ancestors 'none'"
)
DISABLED = (
    "The admin API is off: set GATEWAY_ADMIN_TOKEN to a secret to enable it, then send "
    "'Authorization: Bearer <token>' (the dashboard asks for the token)."
)


def is_admin_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def token_matches(expected: str, headers: Iterable[tuple[bytes, bytes]]) -> bool:
    value = get_header(headers, b"authorization")
    if value is None:
        return False
    scheme, _, given = value.decode("latin-1").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), expected.encode()
    )


class AdminAPI:
    def __init__(
        self,
        *,
        token: str | None,
        live: LiveRouteTable,
        states: RouteStates,
        mismatches: Iterable[dict[str, Any]],
        registry: CollectorRegistry,
        metrics: GatewayMetrics,
        guide: Guide | None = None,
        parity: Callable[[Scope], Awaitable[tuple[int, dict[str, Any]]]] | None = None,
        read_token: str | None = None,
    ) -> None:
        self.token = token
        # Enough for the dashboard and every GET answer; actions (POST) need the operator's.
        self.read_token = read_token
        self.guide = guide
        self.parity = parity  # /_gateway/api/parity: the ledger's readiness (gateway.parity)
        self.live = live
        self.states = states
        self.mismatches = mismatches
        self.registry = registry
        self._readers = _readers(metrics)
        self._concurrency_limit = name_of(metrics.wsgi_concurrency_limit)
        self.router = Router(self._routes(), redirect_slashes=False, default=_not_found)

    async def __call__(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        """Answer one admin request at `path` (below the root path): tokens first, then the
        router, which answers 404 and 405 itself (ApiRoute)."""
        if self.token is None and self.read_token is None:
            await _json(send, 403, {"error": "admin_disabled", "detail": DISABLED})
            return
        if not _is_page(path):  # the page holds no data: it asks for the token itself
            refusal = self._refusal(scope)
            if refusal is not None:
                await _json(send, *refusal)
                return
        await self.router({**scope, "path": path, "root_path": ""}, receive, send)

    def _refusal(
        self, scope: Scope
    ) -> tuple[int, dict[str, Any], list[tuple[bytes, bytes]]] | None:
        operator = self.token is not None and token_matches(self.token, scope["headers"])
        reader = self.read_token is not None and token_matches(self.read_token, scope["headers"])
        if not operator and not reader:
            body = {"error": "unauthorized", "detail": "Send 'Authorization: Bearer <token>'."}
            return 401, body, [(b"www-authenticate", b'Bearer realm="gateway"')]
        if not operator and scope["method"] not in ("GET", "HEAD"):
            detail = "the read token only reads: actions need GATEWAY_ADMIN_TOKEN"
            return 403, {"error": "forbidden", "detail": detail}, []
        return None

    def _routes(self) -> list[BaseRoute]:
        views: dict[str, Callable[[], dict[str, Any]]] = {  # by path below API_PREFIX
            "stats": self.stats,
            "routes": self.routes,
            "config": self.config,
            "mismatches": self.recent_mismatches,
            "wsgi": self.wsgi,
        }
        routes: list[BaseRoute] = [
            *(Route(path, _Asset("index.html")) for path in PAGE_PATHS),
            Route(PREFIX + "/assets/{name}", _Asset()),
            *(
                ApiRoute(API_PREFIX + name, _View(view), methods=GET)
                for name, view in views.items()
            ),
            ApiRoute(API_PREFIX + ROLLOUT_ACTIONS + "{name}", _Action(self.live), methods=["POST"]),
        ]
        if self.parity is not None:
            routes.append(ApiRoute(API_PREFIX + "parity", _Answer(self.parity), methods=GET))
        if self.guide is not None:
            guide = self.guide
            routes.append(ApiRoute(OPENAPI_PATH, _Guided(guide.openapi), methods=GET))
            inventory = _Guided(self.inventory)
            routes.append(ApiRoute(API_PREFIX + "inventory", inventory, methods=GET))
        return routes

    # --- the API ------------------------------------------------------------------------

    async def inventory(self) -> dict[str, Any]:
        """The guide's inventory, each endpoint's target as it is served now: a route its guard
        rolled back reads "legacy (rolled back)", not the configured "canary 25%"."""
        assert self.guide is not None
        answer = await self.guide.inventory()
        entries = self.live.table.entries
        for row in answer.get("endpoints", []):
            entry = _entry_of(entries, row.get("table_entry"), row.get("method"))
            if entry is None:
                continue
            effective = self.states.effective_target(self.states.get(entry), entry)
            if effective != entry.target:
                row["configured_target"] = row["target"]
                row["target"] = f"{effective} (rolled back)"
        return answer

    def config(self) -> dict[str, Any]:
        last = self.live.last
        return {
            "file": str(self.live.path),
            "last_reload": {
                "ok": last.ok,
                "at": last.at,
                "trigger": last.trigger,
                "error": last.error,
                "entries": last.entries,
            },
        }

    def wsgi(self) -> dict[str, Any]:
        """The legacy bridge's concurrency limit, summed over the workers (for the dashboard)."""
        for family in collect(self.registry):
            if family.name == self._concurrency_limit:
                return {"concurrency_limit": sum(sample.value for sample in family.samples)}
        return {"concurrency_limit": None}

    def recent_mismatches(self) -> dict[str, Any]:
        return {"worker": os.getpid(), "mismatches": list(reversed(list(self.mismatches)))}

    def routes(self) -> dict[str, Any]:
        table = self.live.table
        described = []
        for entry in table.entries:
            state = self.states.get(entry)
            behaviour = BEHAVIOURS[entry.target]
            described.append(
                {
                    "path": entry.path,
                    "methods": sorted(entry.methods) if entry.methods else None,
                    "target": entry.target,
                    "effective_target": self.states.effective_target(state, entry),
                    "summary": behaviour.summary(entry),
                    "line": entry.line,
                    **behaviour.describe(entry, state),
                    "rollout": describe_rollout(entry),
                }
            )
        return {"default": table.default, "worker": os.getpid(), "routes": described}

    def stats(self) -> dict[str, Any]:
        routes: dict[str, dict[str, Any]] = defaultdict(_empty_route)
        for family in collect(self.registry):
            reader = self._readers.get(family.name)
            if reader is not None:
                reader(family, routes)
        for values in routes.values():
            for side in values["sides"].values():
                side["buckets"] = _ordered_buckets(side["buckets"])
        ordered = sorted(routes.items(), key=lambda item: _route_order(item[0], item[1]))
        return {"time": time.time(), "routes": [{"route": r, **v} for r, v in ordered]}


def _entry_of(entries: Iterable[RouteEntry], path: object, method: object) -> RouteEntry | None:
    """The table entry an inventory row names (its path, and its method if it has several)."""
    for entry in entries:
        if entry.path == path and (entry.methods is None or method in entry.methods):
            return entry
    return None


def _empty_route() -> dict[str, Any]:
    return {
        "target": None,
        "effective_target": None,
        "weight": None,
        "rollbacks": 0,
        "fallbacks": 0,
        "sides": {},
        "shadow": None,
    }


def _ordered_buckets(buckets: dict[str, int]) -> list[list[float | str | int]]:
    """Cumulative buckets as [upper bound, count] pairs, the last bound being "+Inf"."""
    bounds = sorted(buckets, key=float)
    return [[bound if bound == "+Inf" else float(bound), buckets[bound]] for bound in bounds]


def _route_order(route: str, values: dict[str, Any]) -> tuple[int, str]:
    if route.startswith("__"):
        return (2, route)
    return (0 if values["target"] is not None else 1, route)


def _side(routes: dict[str, dict[str, Any]], route: str, side: str) -> dict[str, Any]:
    sides: dict[str, dict[str, Any]] = routes[route]["sides"]
    return sides.setdefault(side, {"requests": 0, "errors": 0, "duration_sum": 0.0, "buckets": {}})


def _read_requests(family: Metric, routes: dict[str, dict[str, Any]]) -> None:
    for sample in family.samples:
        if sample.name != family.name + "_total":
            continue
        labels = sample.labels
        side = _side(routes, labels["route"], labels["side"])
        side["requests"] += int(sample.value)
        if labels["status"].isdigit() and int(labels["status"]) >= 500:
            side["errors"] += int(sample.value)


def _read_durations(family: Metric, routes: dict[str, dict[str, Any]]) -> None:
    for sample in family.samples:
        labels = sample.labels
        side = _side(routes, labels["route"], labels["side"])
        if sample.name.endswith("_bucket"):
            bound = labels["le"]
            side["buckets"][bound] = side["buckets"].get(bound, 0) + int(sample.value)
        elif sample.name.endswith("_sum"):
            side["duration_sum"] += sample.value


def _read_flag(key: str) -> Callable[[Metric, dict[str, dict[str, Any]]], None]:
    def read(family: Metric, routes: dict[str, dict[str, Any]]) -> None:
        for sample in family.samples:
            if sample.value >= 1:
                routes[sample.labels["route"]][key] = sample.labels["target"]

    return read


def _read_sum(key: str) -> Callable[[Metric, dict[str, dict[str, Any]]], None]:
    def read(family: Metric, routes: dict[str, dict[str, Any]]) -> None:
        for sample in family.samples:
            if sample.name.endswith("_total"):
                routes[sample.labels["route"]][key] += int(sample.value)

    return read


def _read_weights(family: Metric, routes: dict[str, dict[str, Any]]) -> None:
    for sample in family.samples:
        routes[sample.labels["route"]]["weight"] = sample.value


def _read_shadow(family: Metric, routes: dict[str, dict[str, Any]]) -> None:
    for sample in family.samples:
        if not sample.name.endswith("_total"):
            continue
        route = routes[sample.labels["route"]]
        if route["shadow"] is None:
            route["shadow"] = dict.fromkeys(SHADOW_OUTCOMES, 0)  # every outcome, 0 or more
        route["shadow"][sample.labels["outcome"]] += int(sample.value)


Reader = Callable[[Metric, dict[str, dict[str, Any]]], None]


def _readers(metrics: GatewayMetrics) -> dict[str, Reader]:
    """How to read each family the stats use, by the family's name as the metrics object
    declares it (never a name written again here, which a renamed metric would silently
    leave unread)."""
    return {
        name_of(metrics.requests): _read_requests,
        name_of(metrics.duration): _read_durations,
        name_of(metrics.route_target): _read_flag("target"),
        name_of(metrics.effective_target): _read_flag("effective_target"),
        name_of(metrics.canary_weight): _read_weights,
        name_of(metrics.rollbacks): _read_sum("rollbacks"),
        name_of(metrics.fallbacks): _read_sum("fallbacks"),
        name_of(metrics.shadow_comparisons): _read_shadow,
    }


async def _json(
    send: Send, status: int, body: dict[str, Any], extra: list[tuple[bytes, bytes]] | None = None
) -> int:
    return await send_json(send, status, body, [*NO_STORE, *(extra or [])])


def _is_page(path: str) -> bool:
    return path in PAGE_PATHS or path.startswith(PREFIX + "/assets/")


class ApiRoute(Route):
    """A route of the admin API: the one place a request with another method is answered 405,
    in the API's JSON (Starlette's Route answers it in plain text)."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.methods and scope["method"] not in self.methods:
            allowed = ", ".join(sorted(self.methods - {"HEAD"}))
            body = {"error": "method_not_allowed"}
            await _json(send, 405, body, [(b"allow", allowed.encode("latin-1"))])
            return
        await super().handle(scope, receive, send)


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    await _json(send, 404, {"error": "not_found", "detail": scope["path"]})


class _View:
    """An ASGI app answering a view's JSON (a read of the gateway's state)."""

    def __init__(self, view: Callable[[], dict[str, Any]]) -> None:
        self.view = view

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _json(send, 200, self.view())


class _Action:
    """An ASGI app for the rollout's actions, each an edit of the routes file."""

    def __init__(self, live: LiveRouteTable) -> None:
        self.live = live

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = scope["path_params"]["name"]
        await _json(send, *await rollout_action(name, receive, self.live.path))


class _Answer:
    """An ASGI app answering what `answer(scope)` says: a status and a JSON body."""

    def __init__(self, answer: Callable[[Scope], Awaitable[tuple[int, dict[str, Any]]]]) -> None:
        self.answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _json(send, *await self.answer(scope))


class _Guided:
    """An ASGI app answering one of the guide's documents, or 503 while it cannot build it."""

    def __init__(self, build: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        self.build = build

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await _json(send, 200, await self.build())
        except GuideUnavailable as exc:
            await _json(send, 503, {"error": "guide_unavailable", "detail": str(exc)})


class _Asset:
    """The dashboard's files (the page, by default), with the page's content policy."""

    def __init__(self, name: str | None = None) -> None:
        self.name = name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = self.name or scope["path_params"]["name"]
        asset = resources.files("gateway.observe") / "dashboard" / name
        if name.startswith(".") or not asset.is_file():
            await _json(send, 404, {"error": "not_found", "detail": name})
            return
        content = asset.read_bytes()
        content_type = {
            "html": b"text/html; charset=utf-8",
            "js": b"text/javascript; charset=utf-8",
            "css": b"text/css; charset=utf-8",
        }.get(name.rpartition(".")[2], b"application/octet-stream")
        headers = [
            (b"content-type", content_type),
            (b"content-length", str(len(content)).encode()),
            (b"content-security-policy", PAGE_POLICY),
            *NO_STORE,
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": content})
