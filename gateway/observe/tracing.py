"""OpenTelemetry traces: a SERVER span per request, a child span per call of a side, and the
trace context handed on to both apps.

Imported only when tracing is on (gateway.observe.tracing_switch), and it needs the `otel`
extra. It hooks in three places, none of which costs anything when tracing is off:

- the dispatcher hands each HTTP request to `Tracing.serve`, which continues the incoming
  `traceparent`/`tracestate` (through the configured propagators, W3C trace context by default)
  in a SERVER span;
- each side's `app` is wrapped (`TracedSide`): its call is a child span, and the request it
  gets carries that span's context, so the legacy app reads it in its WSGI environ
  (`HTTP_TRACEPARENT`) and the new app in its headers, and their own instrumentation joins the
  trace. A shadow copy, marked by the gateway's copy header, outlives the client's request and
  answers nobody: it is a span of its own trace, linked to the request's;
- the outcome bus tells `Tracing.answered` each answer (the accounting's hook): the route
  template names the SERVER span, the gateway's facts become attributes, and the trace and span
  ids go into the access log line.

Spans go to a TracerProvider of the gateway's own (no global is set, so several gateways in
one process keep apart), built from the standard OTEL_* variables unless one is given.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.propagate import get_global_textmap
from opentelemetry.propagators.textmap import Getter, Setter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import Link, Span, SpanKind, StatusCode
from opentelemetry.util.types import AttributeValue
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.observe.accounting import Answered
from gateway.observe.metrics import REJECTED_ROUTE, UNMATCHED_ROUTE
from gateway.observe.tracing_switch import EXPORTER
from gateway.options.headers import COPY_MARK
from gateway.sides import Side, SideName

logger = logging.getLogger("gateway")

HTTPApp = Callable[[Scope, Receive, Send], Awaitable[object]]
RawHeaders = list[tuple[bytes, bytes]]

_COPY_MARK = COPY_MARK.encode("ascii")
# The methods OpenTelemetry's HTTP conventions name; any other is reported as "_OTHER", with
# the method as sent in http.request.method_original (a client's made-up methods would
# otherwise make span names of any cardinality).
_KNOWN_METHODS = frozenset(
    {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "QUERY", "TRACE"}
)
# Routes that are the gateway's own labels, not templates: no http.route for them.
_NOT_ROUTES = frozenset({UNMATCHED_ROUTE, REJECTED_ROUTE})
FLUSH_SECONDS = 5.0  # at shutdown, how long the spans still queued may take to be exported


class TracingSetupError(ValueError):
    """The OTEL_* variables ask for what this gateway cannot do; the message says what."""


class _HeaderGetter(Getter[RawHeaders]):
    def get(self, carrier: RawHeaders, key: str) -> list[str] | None:
        name = key.lower().encode("latin-1")
        values = [value.decode("latin-1") for header, value in carrier if header.lower() == name]
        return values or None

    def keys(self, carrier: RawHeaders) -> list[str]:
        return [header.decode("latin-1") for header, _ in carrier]


class _HeaderSetter(Setter[RawHeaders]):
    def set(self, carrier: RawHeaders, key: str, value: str) -> None:
        carrier.append((key.lower().encode("latin-1"), value.encode("latin-1")))


_GETTER = _HeaderGetter()
_SETTER = _HeaderSetter()


def exporters_from_environment(environ: Mapping[str, str] | None = None) -> list[SpanExporter]:
    """The exporters OTEL_TRACES_EXPORTER names (default: OTLP over HTTP, as the SDK's)."""
    env = os.environ if environ is None else environ
    names = [n.strip().lower() for n in env.get(EXPORTER, "otlp").split(",") if n.strip()]
    exporters: list[SpanExporter] = []
    for name in names or ["otlp"]:
        if name in ("otlp", "otlp_proto_http"):
            protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get(
                "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
            )
            if protocol != "http/protobuf":
                raise TracingSetupError(
                    f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol}: the gateway exports OTLP over "
                    "HTTP only (http/protobuf); point it at the collector's HTTP port (4318)"
                )
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporters.append(OTLPSpanExporter())
        elif name == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            exporters.append(ConsoleSpanExporter())
        elif name != "none":
            raise TracingSetupError(
                f"{EXPORTER}={name}: the gateway knows otlp (OTLP over HTTP), console and none"
            )
    return exporters


def provider_from_environment(environ: Mapping[str, str] | None = None) -> TracerProvider:
    """A TracerProvider as the OTEL_* variables say (service name, sampler, exporter)."""
    env = os.environ if environ is None else environ
    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (read by the SDK) win; without them the
    # service is "gateway" rather than the SDK's "unknown_service".
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: "gateway"}))
    provider = TracerProvider(resource=resource)
    for exporter in exporters_from_environment(env):
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


class Tracing:
    def __init__(self, provider: trace.TracerProvider) -> None:
        self.provider = provider
        self.tracer = provider.get_tracer("gateway")
        self.propagator = get_global_textmap()  # OTEL_PROPAGATORS; W3C trace context by default
        self._fields = {name.lower().encode("latin-1") for name in self.propagator.fields}

    async def serve(self, scope: Scope, receive: Receive, send: Send, app: HTTPApp) -> None:
        """Serve one HTTP request in a SERVER span that continues the client's trace."""
        parent = self.propagator.extract(scope["headers"], getter=_GETTER)
        method = scope["method"]
        known = method if method in _KNOWN_METHODS else "_OTHER"
        with self.tracer.start_as_current_span(
            known if known != "_OTHER" else "HTTP",
            context=parent,
            kind=SpanKind.SERVER,
            attributes=_server_attributes(scope, known),
        ) as span:

            async def send_traced(message: Message) -> None:
                if message["type"] == "http.response.start":
                    _set_status(span, message["status"])
                await send(message)

            await app(scope, receive, send_traced)

    def answered(self, answered: Answered) -> tuple[str, str] | None:
        """Name the request's SERVER span for its route; its trace and span ids, for the log."""
        span = trace.get_current_span()
        context = span.get_span_context()
        if not context.is_valid:
            return None
        if span.is_recording():
            route = answered.route
            attributes: dict[str, AttributeValue] = {
                "gateway.side": answered.side,
                "gateway.route": route,
            }
            decision = answered.decision or answered.target
            if decision is not None:
                attributes["gateway.decision"] = decision
            if answered.target is not None:
                attributes["gateway.target"] = answered.target
            if answered.fallback_from is not None:
                attributes["gateway.fallback_from"] = answered.fallback_from
            if route not in _NOT_ROUTES:
                attributes["http.route"] = route
                method = answered.method if answered.method in _KNOWN_METHODS else "HTTP"
                span.update_name(f"{method} {route}")
            span.set_attributes(attributes)
        return format(context.trace_id, "032x"), format(context.span_id, "016x")

    def side(self, side: Side) -> TracedSide:
        return TracedSide(side, self._side_app(side.name, side.app))

    def _side_app(self, name: SideName, app: ASGIApp) -> ASGIApp:
        async def traced(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            copy = any(header == _COPY_MARK for header, _ in scope["headers"])
            if copy:
                # A copy is sent once the client has its answer, and answers nobody: a trace of
                # its own, linked to the request's, keeps the client's trace the client's.
                links = [Link(trace.get_current_span().get_span_context())]
                start = self.tracer.start_as_current_span(
                    f"shadow {name}",
                    context=Context(),
                    kind=SpanKind.INTERNAL,
                    links=links,
                    attributes={"gateway.side": name, "gateway.shadow": True},
                )
            else:
                start = self.tracer.start_as_current_span(
                    f"{name} {scope['method']}",
                    kind=SpanKind.INTERNAL,
                    attributes={"gateway.side": name},
                )
            with start as span:
                carried = [h for h in scope["headers"] if h[0].lower() not in self._fields]
                self.propagator.inject(carried, setter=_SETTER)

                async def send_traced(message: Message) -> None:
                    if message["type"] == "http.response.start":
                        _set_status(span, message["status"])
                    await send(message)

                # In place: the scope is this call's own, and what the side writes into it
                # (Starlette's matched route) is read after the call for the route label.
                scope["headers"] = carried
                await app(scope, receive, send_traced)

        return traced

    async def lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A lifespan of its own: at shutdown, the spans still queued are exported."""
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.flush()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def flush(self) -> None:
        force_flush: Callable[[int], bool] | None = getattr(self.provider, "force_flush", None)
        if force_flush is None:
            return
        # The exporter blocks on the network: off the event loop, bounded.
        millis = int(FLUSH_SECONDS * 1000)
        try:
            await asyncio.wait_for(asyncio.to_thread(force_flush, millis), FLUSH_SECONDS + 1)
        except TimeoutError:
            logger.warning("traces not exported within %g s at shutdown", FLUSH_SECONDS)


class TracedSide:
    """A side whose `app` is traced; every other member is the side's own."""

    def __init__(self, side: Side, app: ASGIApp) -> None:
        self.side = side
        self.app = app

    @property
    def name(self) -> SideName:
        return self.side.name

    @property
    def source(self) -> object | None:
        return self.side.source

    @property
    def takes_websockets(self) -> bool:
        return self.side.takes_websockets

    @property
    def in_process(self) -> bool:
        return self.side.in_process

    def refresh(self) -> None:
        self.side.refresh()

    def route_of(self, scope: Scope) -> str | None:
        return self.side.route_of(scope)

    def serves(self, path: str, method: str) -> bool | None:
        return self.side.serves(path, method)

    def openapi(self) -> dict[str, Any] | None:
        return self.side.openapi()

    def health_problem(self) -> str | None:
        return self.side.health_problem()


def _server_attributes(scope: Scope, method: str) -> dict[str, AttributeValue]:
    attributes: dict[str, AttributeValue] = {
        "http.request.method": method,
        "url.path": scope["path"],
        "url.scheme": scope.get("scheme", "http"),
    }
    if method == "_OTHER":
        attributes["http.request.method_original"] = scope["method"]
    query: bytes = scope.get("query_string", b"")
    if query:
        attributes["url.query"] = query.decode("latin-1")
    version = scope.get("http_version")
    if version:
        attributes["network.protocol.version"] = version
    server = scope.get("server")
    if server:
        attributes["server.address"] = server[0]
        if server[1] is not None:
            attributes["server.port"] = server[1]
    client = scope.get("client")
    if client:
        attributes["client.address"] = client[0]
    agent = _first(scope["headers"], b"user-agent")
    if agent is not None:
        attributes["user_agent.original"] = agent
    return attributes


def _first(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _set_status(span: Span, status: int) -> None:
    span.set_attribute("http.response.status_code", status)
    # HTTP's conventions for a server: a 4xx is the client's error, not the span's. A side's
    # call is an in-process app answering the same request, so it follows the same rule.
    if status >= 500:
        span.set_status(StatusCode.ERROR)
