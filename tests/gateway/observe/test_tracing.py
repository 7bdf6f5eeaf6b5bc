"""OpenTelemetry traces, in-process, with the SDK's in-memory exporter: the client's trace is
continued in a SERVER span named by the route template, each side's call is a child span, and
both apps receive the trace context with the gateway's span as parent."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client import CollectorRegistry

from gateway.app import GatewayConfigError, create_app
from gateway.observe.tracing import exporters_from_environment
from gateway.observe.tracing_switch import tracing_wanted
from tests.gateway.in_process import serving, settings
from tests.waiting import eventually

LEGACY = "tests.gateway.observe.trace_apps:legacy_app"
NEW = "tests.gateway.observe.trace_apps:new_app"
CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"


def routes(target: str, policy: str = "") -> str:
    return f'routes:\n  - path: "/echo/{{name}}"\n    target: {target}\n{policy}'


def traced() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def request_traced(
    tmp_path: Path, routes_text: str, headers: dict[str, str], **values: Any
) -> tuple[dict[str, Any], InMemorySpanExporter]:
    provider, exporter = traced()

    async def run() -> dict[str, Any]:
        gateway_settings = settings(tmp_path, routes_text, legacy_app=LEGACY, new_app=NEW, **values)
        async with serving(gateway_settings, CollectorRegistry(), tracer_provider=provider) as (
            _,
            client,
        ):
            response = await client.get("/echo/one?x=1", headers=headers)
            assert response.status_code == 200
            answer: dict[str, Any] = response.json()
            return answer

    return asyncio.run(run()), exporter


def by_kind(spans: tuple[ReadableSpan, ...], kind: SpanKind) -> list[ReadableSpan]:
    return [span for span in spans if span.kind == kind]


def ids(traceparent: str) -> tuple[str, str]:
    version, trace_id, parent_id, flags = traceparent.split("-")
    assert version == "00" and int(flags, 16) & 1  # sampled (newer SDKs add "random": 03)
    return trace_id, parent_id


@pytest.mark.parametrize("side", ["legacy", "new"])
def test_the_client_trace_reaches_each_side_with_the_gateway_span_as_parent(
    tmp_path: Path, side: str
) -> None:
    headers = {"traceparent": TRACEPARENT, "tracestate": "vendor=value"}
    answer, exporter = request_traced(tmp_path, routes(side), headers)
    spans = exporter.get_finished_spans()
    [server] = by_kind(spans, SpanKind.SERVER)
    [call] = by_kind(spans, SpanKind.INTERNAL)

    assert server.name == "GET /echo/{name}"
    assert server.parent is not None
    assert format(server.parent.span_id, "016x") == CLIENT_SPAN
    assert format(server.context.trace_id, "032x") == CLIENT_TRACE
    attributes = dict(server.attributes or {})
    assert attributes["http.request.method"] == "GET"
    assert attributes["http.route"] == "/echo/{name}"
    assert attributes["http.response.status_code"] == 200
    assert attributes["url.path"] == "/echo/one"
    assert attributes["url.query"] == "x=1"
    assert attributes["gateway.side"] == side
    assert attributes["gateway.route"] == "/echo/{name}"
    assert attributes["gateway.decision"] == side  # a direct chooser: its target decided

    assert call.parent is not None and call.parent.span_id == server.context.span_id
    assert dict(call.attributes or {})["gateway.side"] == side
    # What the app received: the same trace, the gateway's span of its call as parent.
    assert answer["side"] == side
    assert ids(answer["traceparent"]) == (CLIENT_TRACE, format(call.context.span_id, "016x"))
    assert answer["tracestate"] == "vendor=value"


def test_without_a_traceparent_the_gateway_starts_the_trace(tmp_path: Path) -> None:
    answer, exporter = request_traced(tmp_path, routes("new"), {})
    [server] = by_kind(exporter.get_finished_spans(), SpanKind.SERVER)
    assert server.parent is None
    assert ids(answer["traceparent"])[0] == format(server.context.trace_id, "032x")


def test_a_shadow_copy_is_a_linked_span_of_its_own_trace(tmp_path: Path) -> None:
    provider, exporter = traced()
    policy = "    shadow: {noise_sample: 0}\n"

    async def run() -> None:
        gateway_settings = settings(
            tmp_path, routes("legacy", policy), legacy_app=LEGACY, new_app=NEW
        )
        async with serving(gateway_settings, CollectorRegistry(), tracer_provider=provider) as (
            _,
            client,
        ):
            await client.get("/echo/one", headers={"traceparent": TRACEPARENT})
            await eventually(
                lambda: any(s.name == "shadow new" for s in exporter.get_finished_spans()),
                what="the shadow copy's span",
            )

    asyncio.run(run())
    spans = exporter.get_finished_spans()
    [server] = by_kind(spans, SpanKind.SERVER)
    [copy] = [span for span in spans if span.name == "shadow new"]
    assert copy.parent is None
    assert copy.context.trace_id != server.context.trace_id
    assert [link.context.span_id for link in copy.links] == [server.context.span_id]
    assert dict(copy.attributes or {})["gateway.shadow"] is True
    assert dict(server.attributes or {})["gateway.side"] == "legacy"


def test_the_access_log_carries_the_trace_ids(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="gateway.access"):
        _, exporter = request_traced(
            tmp_path, routes("new"), {"traceparent": TRACEPARENT}, access_log=True
        )
    [server] = by_kind(exporter.get_finished_spans(), SpanKind.SERVER)
    [line] = [json.loads(r.getMessage()) for r in caplog.records if r.name == "gateway.access"]
    assert line["trace_id"] == CLIENT_TRACE
    assert line["span_id"] == format(server.context.span_id, "016x")


@pytest.mark.parametrize(
    ("environ", "wanted"),
    [
        pytest.param({}, False, id="nothing set"),
        pytest.param({"OTEL_TRACES_EXPORTER": "otlp"}, True, id="exporter"),
        pytest.param({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, True, id="endpoint"),
        pytest.param({"OTEL_TRACES_EXPORTER": "none"}, False, id="exporter none"),
        pytest.param(
            {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, False, id="disabled"
        ),
    ],
)
def test_tracing_is_on_when_the_otel_variables_ask(environ: dict[str, str], wanted: bool) -> None:
    assert tracing_wanted(environ) is wanted


def test_without_tracing_the_gateway_loads_none_of_it(tmp_path: Path) -> None:
    # The new app (FastAPI) may import OpenTelemetry's API itself: what is checked is that the
    # gateway loads neither its tracing module nor the SDK, and hooks nothing in.
    routes_file = tmp_path / "routes.yaml"
    routes_file.write_text(routes("new"), encoding="utf-8")
    code = (
        "import sys\n"
        "from gateway.app import create_app\n"
        "from gateway.settings import GatewaySettings\n"
        f"create_app(GatewaySettings(routes_file={str(routes_file)!r}, legacy_app={LEGACY!r},"
        f" new_app={NEW!r}, ledger=False)).around_http is None or sys.exit(1)\n"
        "loaded = [m for m in sys.modules if m.startswith('opentelemetry.sdk')]\n"
        "print(sorted(loaded), 'gateway.observe.tracing' in sys.modules)\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert done.stdout.strip() == "[] False"


def test_a_fallback_shows_both_calls_under_the_request(tmp_path: Path) -> None:
    provider, exporter = traced()
    text = 'routes:\n  - path: "/fails/{name}"\n    target: new\n    fallback: legacy\n'

    async def run() -> int:
        gateway_settings = settings(tmp_path, text, legacy_app=LEGACY, new_app=NEW)
        async with serving(gateway_settings, CollectorRegistry(), tracer_provider=provider) as (
            _,
            client,
        ):
            return (await client.get("/fails/one")).status_code

    assert asyncio.run(run()) == 200
    spans = exporter.get_finished_spans()
    [server] = by_kind(spans, SpanKind.SERVER)
    calls = by_kind(spans, SpanKind.INTERNAL)
    assert [span.name for span in calls] == ["new GET", "legacy GET"]
    assert all(c.parent is not None and c.parent.span_id == server.context.span_id for c in calls)
    assert [dict(c.attributes or {}).get("http.response.status_code") for c in calls] == [500, 200]
    attributes = dict(server.attributes or {})
    assert attributes["gateway.side"] == "legacy"
    assert attributes["gateway.fallback_from"] == "new"
    assert attributes["http.response.status_code"] == 200


def test_the_spans_still_queued_are_exported_at_shutdown(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=600_000))

    async def run() -> int:
        gateway_settings = settings(tmp_path, routes("new"), legacy_app=LEGACY, new_app=NEW)
        async with serving(gateway_settings, CollectorRegistry(), tracer_provider=provider) as (
            _,
            client,
        ):
            await client.get("/echo/one")
            return len(exporter.get_finished_spans())  # queued, not exported yet

    assert asyncio.run(run()) == 0
    assert [span.name for span in exporter.get_finished_spans()] == ["new GET", "GET /echo/{name}"]
    provider.shutdown()


@pytest.mark.parametrize(
    ("environ", "problem"),
    [
        pytest.param({"OTEL_TRACES_EXPORTER": "zipkin"}, "knows otlp", id="unknown exporter"),
        pytest.param(
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
            "OTLP over HTTP only",
            id="grpc",
        ),
    ],
)
def test_what_the_gateway_cannot_export_is_refused_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, environ: dict[str, str], problem: str
) -> None:
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    gateway_settings = settings(tmp_path, routes("new"), legacy_app=LEGACY, new_app=NEW)
    with pytest.raises(GatewayConfigError, match=problem):
        create_app(gateway_settings, registry=CollectorRegistry())


def test_the_exporters_follow_the_variables() -> None:
    [console] = exporters_from_environment({"OTEL_TRACES_EXPORTER": "console"})
    assert isinstance(console, ConsoleSpanExporter)
    [otlp] = exporters_from_environment({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"})
    assert isinstance(otlp, OTLPSpanExporter)
    assert exporters_from_environment({"OTEL_TRACES_EXPORTER": "none"}) == []
