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
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from a2wsgi import WSGIMiddleware
from prometheus_client import CollectorRegistry
from starlette.types import ASGIApp

from gateway.behaviours.facts import SessionReader, flask_session_reader
from gateway.behaviours.guard import GuardWatch
from gateway.behaviours.guard_notice import telling_rollbacks
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
from gateway.guide.docs_pages import docs_routing_note
from gateway.guide.service import Guide
from gateway.http.body_limits import BodyLimits
from gateway.http.error_shape import ErrorShape
from gateway.http.proxies import ForwardedClient, TrustedProxies
from gateway.importer import import_from_string
from gateway.observe.access_log import AccessLog
from gateway.observe.accounting import Accounting
from gateway.observe.metrics import BridgeMetrics, GatewayMetrics, HTTPSideMetrics
from gateway.observe.notify import Notifier
from gateway.observe.tracing_switch import tracing_wanted
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
from gateway.sides.http import HTTPSide
from gateway.sides.http_pool import HTTPSideObserver
from gateway.sides.wsgi import WSGISide
from gateway.wsgi import BridgeLimits, WSGIBridge

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication
    from opentelemetry.trace import TracerProvider

    from gateway.observe.tracing import Tracing

logger = logging.getLogger("gateway")

SHADOW_DRAIN_SECONDS = 5.0  # at shutdown, how long shadow copies in flight may take to end

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class GatewayConfigError(ValueError):
    """Settings that cannot make a gateway; the message says which and why."""


def load_apps(settings: GatewaySettings) -> tuple[WSGIApp, ASGIApp | None]:
    """The legacy WSGI app and the new ASGI app named by the settings (None: no new app).

    Beside GATEWAY_LEGACY_URL, the legacy app is the one given to be read, or None; beside
    GATEWAY_NEW_URL, there is no new app to import.
    """
    apps: list[object] = []
    for setting, import_str in (
        ("GATEWAY_LEGACY_APP", settings.legacy_analysis_app),
        ("GATEWAY_NEW_APP", settings.new_app if settings.new_url is None else None),
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
    settings: GatewaySettings,
    new: Side,
    session: SessionReader | None,
    others: Sequence[Side] = (),
) -> TableBuilder:
    """Each build first reads again what the sides say they serve (`new` and `others`)."""
    checks: list[EntryCheck] = [session_sticky_check(session is not None, settings.legacy_app)]
    absent = new.app is no_new_app
    name = settings.new_url or str(settings.new_app)
    new.refresh()  # to say now whether it lists its routes
    if absent:
        checks.append(legacy_only_check())
    else:
        # A side that lists no routes (yet: a service's document may come with a reload) is
        # not checked.
        checks.append(new_side_check(_serves(new), name))
        if new.serves("/", "GET") is None:
            logger.warning("the new side (%s) does not list its routes: not checked", name)

    def build(content: bytes, source: str) -> RouteTable:
        for side in (new, *others):
            side.refresh()
        table = parse_routes(content, source, checks)
        if absent and table.default == NEW:
            raise RoutesFileError(source, [f"default: new, but {NOT_SET}: it must be legacy"])
        return table

    return build


def new_side(
    app: ASGIApp | None,
    settings: GatewaySettings | None = None,
    observer: HTTPSideObserver | None = None,
) -> Side:
    """The new side: the service at GATEWAY_NEW_URL, the new app in-process, or, without
    either, the side that answers 404."""
    if settings is not None and settings.new_url is not None:
        return http_side(NEW, settings.new_url, settings, observer)
    return ASGISide(NEW, app or no_new_app, app)


def http_side(
    name: SideName,
    url: str,
    settings: GatewaySettings,
    observer: HTTPSideObserver | None = None,
    analysis: object | None = None,
) -> Side:
    """A side served over HTTP, by another process."""
    openapi = settings.new_openapi_url if name == NEW else settings.legacy_openapi_url
    return HTTPSide(
        name,
        url,
        openapi_url=openapi,
        analysis=analysis,
        pool_size=settings.http_pool_size,
        # The new side's wait for an answer is the caller's (the entry's timeout); legacy's
        # has no caller deadline and gets the bridge's: no byte for GATEWAY_WSGI_TIMEOUT.
        idle_timeout=None if name == NEW else settings.wsgi_timeout,
        observer=observer,
    )


def _serves(side: Side) -> Callable[[str, str], bool]:
    # Unknown (no routes listed) counts as served: there is nothing to check against.
    return lambda path, method: side.serves(path, method) is not False


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


def load_tracing(provider: TracerProvider | None = None) -> Tracing | None:
    """Tracing, when the OTEL_* variables ask for it or a provider is given; else None.

    OpenTelemetry is imported only then: without tracing, a gateway never loads it.
    """
    if provider is None and not tracing_wanted():
        return None
    try:
        from gateway.observe.tracing import Tracing, TracingSetupError, provider_from_environment
    except ImportError as exc:
        raise GatewayConfigError(
            "OTEL_TRACES_EXPORTER or OTEL_EXPORTER_OTLP_ENDPOINT asks for traces, but "
            f"OpenTelemetry is not installed ({exc}): install the gateway's otel extra, "
            "pip install 'flask-fastapi-gateway[otel]'"
        ) from exc
    try:
        return Tracing(provider or provider_from_environment())
    except TracingSetupError as exc:
        raise GatewayConfigError(str(exc)) from exc


def create_app(
    settings: GatewaySettings | None = None,
    *,
    registry: CollectorRegistry | None = None,
    tracer_provider: TracerProvider | None = None,
) -> Gateway:
    """A gateway; `tracer_provider` traces it whatever the OTEL_* variables say (tests)."""
    settings = settings or GatewaySettings()
    registry = registry or CollectorRegistry()
    tracing = load_tracing(tracer_provider)
    legacy_wsgi, new_app = load_apps(settings)
    if new_app is None and settings.new_url is None:
        logger.warning("%s: every request is served by the legacy app", NOT_SET)
    metrics = GatewayMetrics(registry)
    # One set of request-body limits for both sides: the bridge applies them to legacy, the
    # side caller to the new side.
    body_limits = BodyLimits(settings.body_timeout, settings.max_body, settings.body_min_rate)
    observer = HTTPSideMetrics(metrics)
    sides: dict[SideName, Side] = {
        LEGACY: (
            http_side(LEGACY, settings.legacy_url, settings, observer, legacy_wsgi)
            if settings.legacy_url is not None
            else WSGISide(
                LEGACY, wsgi_bridge(legacy_wsgi, settings, metrics, body_limits), legacy_wsgi
            )
        ),
        NEW: new_side(new_app, settings, observer),
    }
    if tracing is not None:
        sides = {name: tracing.side(side) for name, side in sides.items()}
    session = flask_session_reader(legacy_wsgi)
    build = table_builder(settings, sides[NEW], session, [sides[LEGACY]])
    # What each side's router says, read from its code or, over HTTP, its OpenAPI document.
    build = reviewed(build, router_review(sides[LEGACY].source, sides[NEW].source, metrics))
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
    on_swap = _on_swap(states, ledger, docs_routing_note(new_app))
    live = LiveRouteTable(settings.routes_file, build, metrics, on_swap=on_swap)
    traced = tracing.answered if tracing is not None else None
    access_log = _access_log(settings)
    bus = OutcomeBus(Accounting(metrics, access_log, traced))
    notifier = Notifier.from_setting(settings.notify_urls)
    if notifier is not None and settings.gateway_notifies_rollbacks:
        bus.subscribe(GuardWatch(telling_rollbacks(states.observed, notifier)))
    else:
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
    # What the guide reads of each side: the code, or what a service's OpenAPI document says.
    guide = Guide(
        legacy_app=sides[LEGACY].source,
        new_app=sides[NEW].source,
        live=live,
        registry=registry,
        ledger=settings.ledger_location if settings.ledger else None,
    )
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
        # A side served over HTTP that does not answer is reported, not fatal: restarting this
        # process would not bring it back, and the other side's routes still serve.
        health_checks=tuple(s.health_problem for s in sides.values() if s.in_process),
        side_checks=tuple(s.health_problem for s in sides.values() if not s.in_process),
        guide=guide,
        openapi_path=settings.openapi_path,
    )
    lifespan = GatewayLifespan(
        [
            # Tracing stops last: it exports the spans of everything that stops before it.
            *([ChildLifespan(tracing.lifespan, "tracing")] if tracing is not None else []),
            # The ledger stops after the sides: it writes what the shadow drain records.
            *([ChildLifespan(ledger, "the parity ledger")] if ledger is not None else []),
            ChildLifespan(sides[LEGACY].app, "the legacy bridge"),
            ChildLifespan(sides[NEW].app, "the new app"),
        ],
        background=partial(_start_background, live, settings.watch_routes),
        on_shutdown=partial(setattr, own, "draining", True),
        drain=partial(shadow.drain, SHADOW_DRAIN_SECONDS),
        at_end=[metrics.fold, *([access_log.flush] if access_log is not None else [])],
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
        around_http=tracing.serve if tracing is not None else None,
    )


def _access_log(settings: GatewaySettings) -> AccessLog | None:
    if not settings.access_log:
        return None
    try:
        return AccessLog(settings.access_log_to)
    except ValueError as exc:
        raise GatewayConfigError(f"GATEWAY_ACCESS_LOG_TO: {exc}") from None


def _on_swap(
    states: RouteStates, ledger: Ledger | None, note: Callable[[RouteTable], None]
) -> Callable[[RouteTable], None]:
    def swapped(table: RouteTable) -> None:
        states.sync(table)
        if ledger is not None:
            ledger.table_loaded(table)
        note(table)

    return swapped


def _start_background(live: LiveRouteTable, watch: bool) -> list[Callable[[], object]]:
    """Reload on SIGHUP, and on changes to the routes file when `watch`; how to stop each."""
    stops: list[Callable[[], object]] = [live.install_signal_handler()]
    if watch:
        task = asyncio.create_task(live.watch(), name="gateway-routes-watcher")
        stops.append(partial(task.cancel, None))
    return stops
