"""`gateway serve` with OTEL_EXPORTER_OTLP_ENDPOINT: the spans reach an OTLP/HTTP receiver,
and both apps see the trace with the gateway's span of their call as parent."""

from __future__ import annotations

import json
from pathlib import Path

from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.gateway.observe.otlp_receiver import otlp_receiver
from tests.servers import run_gateway
from tests.waiting import wait_for

LEGACY = "tests.gateway.observe.trace_apps:legacy_app"
NEW = "tests.gateway.observe.trace_apps:new_app"
CLIENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
CLIENT_SPAN = "b7ad6b7169203331"
ROUTES = """\
routes:
  - path: "/echo/{name}"
    target: match
    rules: [{header: X-Side, equals: new, side: new}]
"""


def attributes(span: Span) -> dict[str, object]:
    values: dict[str, object] = {}
    for attribute in span.attributes:
        value = attribute.value
        values[attribute.key] = (
            value.int_value if value.HasField("int_value") else (value.string_value)
        )
    return values


def test_the_spans_reach_an_otlp_receiver(tmp_path: Path) -> None:
    routes_file = tmp_path / "routes.yaml"
    routes_file.write_text(ROUTES, encoding="utf-8")
    traceparent = f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"
    with otlp_receiver() as (endpoint, received):
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_SERVICE_NAME": "gateway-under-test",
            "OTEL_BSP_SCHEDULE_DELAY": "100",  # milliseconds between two exports
            "GATEWAY_ACCESS_LOG": "true",
        }
        with run_gateway(routes_file, legacy_app=LEGACY, new_app=NEW, env=env) as server:
            with server.client() as client:
                answers = {
                    side: client.get(
                        "/echo/one", headers={"traceparent": traceparent, "x-side": side}
                    ).json()
                    for side in ("legacy", "new")
                }
            wait_for(
                lambda: len(received.named("GET /echo/{name}")) == 2,
                what="both requests' SERVER spans at the receiver",
            )
            log = server.log()

    assert received.services == {"gateway-under-test"}
    for side, answer in answers.items():
        assert answer["side"] == side
        _, trace_id, parent_id, _ = answer["traceparent"].split("-")
        assert trace_id == CLIENT_TRACE
        [call] = [
            span
            for span in received.spans
            if span.span_id.hex() == parent_id and span.trace_id.hex() == CLIENT_TRACE
        ]
        assert call.kind == Span.SPAN_KIND_INTERNAL
        assert attributes(call)["gateway.side"] == side
        [server_span] = [s for s in received.spans if s.span_id == call.parent_span_id]
        assert server_span.kind == Span.SPAN_KIND_SERVER
        assert server_span.name == "GET /echo/{name}"
        assert server_span.parent_span_id.hex() == CLIENT_SPAN
        server_attributes = attributes(server_span)
        assert server_attributes["http.route"] == "/echo/{name}"
        assert server_attributes["http.response.status_code"] == 200
        assert server_attributes["gateway.side"] == side
        decision = "rule 0" if side == "new" else "otherwise"
        assert server_attributes["gateway.decision"] == decision
    logged = [json.loads(line) for line in log.splitlines() if '"event": "request"' in line]
    assert {line["trace_id"] for line in logged if line["route"] == "/echo/{name}"} == {
        CLIENT_TRACE
    }
