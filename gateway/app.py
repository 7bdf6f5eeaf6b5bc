"""Building a gateway from settings: `create_app(settings)`.

Each call builds an independent gateway (its own route table, metrics registry and thread pool),
so tests and embedders can run several in one process. `uvicorn gateway.app:create_app
--factory` and `gateway serve` both call it with settings read from the environment.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections import deque
from collections.abc import Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from a2wsgi import WSGIMiddleware
from prometheus_client import CollectorRegistry
from starlette.types import ASGIApp

from gateway.behaviours.facts import SessionReader, flask_session_reader
from gateway.behaviours.guard import GuardWatch
from gateway.behaviours.registry import Context, build_behaviours
from gateway.behaviours.shadow import ShadowRunner
from gateway.config.routes_file import (
    EntryCheck,
    RoutesFileError,
    legacy_only_check,
    new_side_check,
    parse_routes,
    session_sticky_check,
)
from gateway.control.lifespan import ChildLifespan, GatewayLifespan
from gateway.control.reloading import LiveRouteTable, TableBuilder, reviewed
from gateway.control.route_state import RouteStates
from gateway.control.router_review import router_review
from gateway.dispatcher import Gateway
from gateway.guide.service import Guide
from gateway.http.body_limits import BodyLimits
from gateway.http.error_shape import ErrorShape
from gateway.http.proxies import ForwardedClient, TrustedProxies
from gateway.importer import import_from_string
from gateway.observe.accounting import Accounting
from gateway.observe.metrics import BridgeMetrics, GatewayMetrics
from gateway.own.admin import AdminAPI
from gateway.own.endpoints import OwnEndpoints
from gateway.parity.admin import parity_answer
from gateway.parity.recorder import Ledger, parity_ledger
from gateway.parity.redaction import Redactor
from gateway.pipeline.caller import SideCaller
from gateway.pipeline.outcomes import OutcomeBus
from gateway.pipeline.serving import Serving
from gateway.routing.table import RouteTable
from gateway.settings import GatewaySettings
from gateway.sides import LEGACY, NEW, Side, SideName
from gateway.sides.absent import NOT_SET, no_new_app
from gateway.sides.asgi import ASGISide
from gateway.sides.wsgi import WSGISide
from gateway.wsgi import BridgeLimits, WSGIBridge

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

logger = logging.getLogger("gateway")

SHADOW_DRAIN_SECONDS = 5.0  # at shutdown, how long shadow copies in flight may take to end

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class GatewayConfigError(ValueError):
    """Settings that cannot make a gateway; the message says which and why."""


def load_apps(settings: GatewaySettings) -> tuple[WSGIApp, ASGIApp | None]:
    """The legacy WSGI app and the new ASGI app named by the settings (None: no new app)."""
    apps: list[object] = []
    for setting, import_str in (
        ("GATEWAY_LEGACY_APP", settings.legacy_app),
        ("GATEWAY_NEW_APP", settings.new_app),
    ):
        if import_str is None:
            apps.append(None)
            continue
        try:
            app = import_from_string(import_str)
        except ValueError as exc:
            raise GatewayConfigError(f"{setting}: {exc}") from exc
        if not callable(app):
            raise GatewayConfigError(f'{setting}: "{import_str}" is not an application')
        apps.append(app)
    return cast(WSGIApp, apps[0]), cast(ASGIApp | None, apps[1])


def table_builder(
    settings: GatewaySettings, new: Side, session: SessionReader | None
) -> TableBuilder:
    checks: list[EntryCheck] = [session_sticky_check(session is not None, settings.legacy_app)]
    if new.source is None:
        checks.append(legacy_only_check())
    elif new.serves("/", "GET") is not None:  # it lists its routes
        checks.append(new_side_check(_serves(new), str(settings.new_app)))
    else:
        logger.warning(
            "the new app (%s) does not list its routes: entries sent to it are not checked",
            settings.new_app,
        )

    def build(content: bytes, source: str) -> RouteTable:
        table = parse_routes(content, source, checks)
        if new.source is None and table.default == NEW:
            raise RoutesFileError(source, [f"default: new, but {NOT_SET}: it must be legacy"])
        return table

    return build


def new_side(app: ASGIApp | None) -> Side:
    """The new side: the new app in-process, or, without one, the side that answers 404."""
    return ASGISide(NEW, app or no_new_app, app)


def _serves(side: Side) -> Callable[[str, str], bool]:
    return lambda path, method: bool(side.serves(path, method))


def wsgi_bridge(
    app: WSGIApp, settings: GatewaySettings, metrics: GatewayMetrics, body_limits: BodyLimits
) -> ASGIApp:
    """The legacy app as an ASGI app, through the bridge the settings name."""
    if settings.wsgi_bridge == "a2wsgi":
        metrics.wsgi_concurrency_limit.set(settings.wsgi_threads)  # its fixed thread pool
        return cast(ASGIApp, WSGIMiddleware(app, workers=settings.wsgi_threads))  # type: ignore[arg-type]
    limits = BridgeLimits(
        threads=settings.wsgi_threads,
        queue_limit=settings.wsgi_queue_limit,
        buffer_limit=settings.wsgi_buffer_limit,
        timeout=settings.wsgi_timeout,
        max_stuck=settings.wsgi_max_stuck,
        body_buffer=settings.wsgi_body_buffer,
        body_limits=body_limits,
        queue_timeout=settings.wsgi_queue_timeout,
        adaptive=settings.wsgi_concurrency == "adaptive",
    )
    return WSGIBridge(cast("WSGIApplication", app), limits, BridgeMetrics(metrics))


def freeze_startup_objects() -> None:
    """Exempt everything built so far (both apps, the route table) from garbage collection.

    For a server process, once the apps are built. Python's full collections walk every live
    object; with two frameworks and their apps in one process, each one paused the event loop
    and the WSGI thread long enough to double the gateway's p99 latency in the benchmark
    (bench/README.md). What startup built lives as long as the process anyway.
    """
    gc.collect()
    gc.freeze()


def create_server_app() -> Gateway:
    """`create_app()` for a server process: uvicorn's factory for `gateway serve --workers N`."""
    app = create_app()
    freeze_startup_objects()
    return app


def create_app(
    settings: GatewaySettings | None = None, *, registry: CollectorRegistry | None = None
) -> Gateway:
    settings = settings or GatewaySettings()
    registry = registry or CollectorRegistry()
    legacy_wsgi, new_app = load_apps(settings)
    if new_app is None:
        logger.warning("%s: every request is served by the legacy app", NOT_SET)
    metrics = GatewayMetrics(registry)
    # One set of request-body limits for both sides: the bridge applies them to legacy, the
    # side caller to the new side.
    body_limits = BodyLimits(settings.body_timeout, settings.max_body, settings.body_min_rate)
    bridge = wsgi_bridge(legacy_wsgi, settings, metrics, body_limits)
    sides: dict[SideName, Side] = {
        LEGACY: WSGISide(LEGACY, bridge, legacy_wsgi),
        NEW: new_side(new_app),
    }
    session = flask_session_reader(legacy_wsgi)
    build = table_builder(settings, sides[NEW], session)
    build = reviewed(build, router_review(legacy_wsgi, new_app, metrics))
    states = RouteStates(metrics)
    admin_token = settings.admin_token.get_secret_value() if settings.admin_token else None
    if settings.metrics_auth and admin_token is None:
        raise GatewayConfigError("GATEWAY_METRICS_AUTH needs GATEWAY_ADMIN_TOKEN to be set")
    # One redactor for everything that shows a comparison: the ledger, the mismatch log and the
    # admin API hide the same values.
    redactor = Redactor(
        settings.ledger_redact_headers.split(","), settings.ledger_safe_headers.split(",")
    )
    ledger = parity_ledger(settings, registry, redactor)
    live = LiveRouteTable(settings.routes_file, build, metrics, on_swap=_on_swap(states, ledger))
    bus = OutcomeBus(Accounting(metrics, settings.access_log))
    bus.subscribe(GuardWatch(states.observed))
    caller = SideCaller(
        metrics,
        error_shape=ErrorShape(settings.error_template),
        new_timeout=settings.new_timeout,
        side_header=settings.side_header,
        body_limits=body_limits,
    )
    serving = Serving(sides, caller, bus)
    mismatches: deque[dict[str, Any]] = deque(maxlen=settings.shadow_history)
    shadow = ShadowRunner(
        metrics,
        serving,
        mismatches,
        ledger=ledger.record if ledger is not None else None,
        redactor=redactor,
    )
    context = Context(serving, metrics, session, shadow, settings.fallback_body_limit)
    if settings.openapi_path == settings.metrics_path:
        raise GatewayConfigError("GATEWAY_OPENAPI_PATH and GATEWAY_METRICS_PATH are the same path")
    guide = Guide(legacy_app=legacy_wsgi, new_app=new_app, live=live, registry=registry)
    read_token = settings.read_token.get_secret_value() if settings.read_token else None
    admin = AdminAPI(
        guide=guide,
        token=admin_token,
        read_token=read_token,
        live=live,
        states=states,
        mismatches=mismatches,
        registry=registry,
        metrics=metrics,
        parity=partial(parity_answer, settings.ledger_location),
    )
    own = OwnEndpoints(
        admin=admin,
        registry=registry,
        bus=bus,
        metrics_path=settings.metrics_path,
        # Reading the metrics is a read: the read token is enough, as for the admin API's GETs.
        metrics_tokens=(
            tuple(token for token in (admin_token, read_token) if token)
            if settings.metrics_auth
            else None
        ),
        side_header=settings.side_header,
        health_checks=tuple(side.health_problem for side in sides.values()),
        guide=guide,
        openapi_path=settings.openapi_path,
    )
    lifespan = GatewayLifespan(
        [
            # The ledger starts first and stops last: it writes what the shadow drain records.
            *([ChildLifespan(ledger, "the parity ledger")] if ledger is not None else []),
            ChildLifespan(sides[LEGACY].app, "the legacy bridge"),
            ChildLifespan(sides[NEW].app, "the new app"),
        ],
        background=partial(_start_background, live, settings.watch_routes),
        on_shutdown=partial(setattr, own, "draining", True),
        drain=partial(shadow.drain, SHADOW_DRAIN_SECONDS),
    )
    proxies = TrustedProxies.parse(settings.forwarded_allow_ips)
    return Gateway(
        live=live,
        states=states,
        behaviours=build_behaviours(context),
        serving=serving,
        own=own,
        lifespan=lifespan,
        forwarded=ForwardedClient(proxies, settings.forwarded_header) if proxies else None,
    )


def _on_swap(states: RouteStates, ledger: Ledger | None) -> Callable[[RouteTable], None]:
    if ledger is None:
        return states.sync

    def swapped(table: RouteTable) -> None:
        states.sync(table)
        ledger.table_loaded(table)

    return swapped


def _start_background(live: LiveRouteTable, watch: bool) -> list[Callable[[], object]]:
    """Reload on SIGHUP, and on changes to the routes file when `watch`; how to stop each."""
    stops: list[Callable[[], object]] = [live.install_signal_handler()]
    if watch:
        task = asyncio.create_task(live.watch(), name="gateway-routes-watcher")
        stops.append(partial(task.cancel, None))
    return stops
