"""The answers the gateway gives itself, timeouts, and what is counted, over the real server."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.gateway.test_server import metric
from tests.servers import ServerProcess, raw_request, run_gateway
from tests.waiting import wait_for

ROUTES = """\
default: legacy
routes:
  - path: /hang
    methods: [GET]
    target: new
    timeout: 1
  - path: /api/items/{item_id:int}
    methods: [GET]
    target: new
  - path: /cut
    target: new
  - path: /slow
    target: new
"""


def _calls(server: ServerProcess) -> dict[str, int]:
    calls: dict[str, int] = httpx.get(server.base_url + "/calls", timeout=10).json()
    return calls


def _access_records(server: ServerProcess) -> list[dict[str, object]]:
    records = []
    for line in server.log().splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("event") == "request":
                records.append(record)
    return records


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    routes_file = tmp_path_factory.mktemp("own-answers") / "routes.yaml"
    routes_file.write_text(ROUTES, encoding="utf-8")
    # /calls is served by legacy (the default); the new side's counters are read through it
    # only for legacy views, so the new app's counters are read from the new app below.
    with run_gateway(routes_file, env={"GATEWAY_NEW_TIMEOUT": "2"}) as server:
        yield server


def test_a_hung_new_route_answers_504_within_its_timeout(gateway: ServerProcess) -> None:
    started = time.monotonic()
    response = httpx.get(gateway.base_url + "/hang", timeout=30)
    elapsed = time.monotonic() - started
    assert response.status_code == 504
    assert response.json() == {
        "error": "timeout",
        "detail": "the new side did not start its answer within 1 s",
        "side": "new",
    }
    assert response.headers["x-gateway-side"] == "gateway"
    assert 1.0 <= elapsed < 15  # its own timeout (1 s), not the default (2 s) nor the client's
    assert (
        metric(
            gateway, "gateway_requests_total", route="/hang", side="new", method="GET", status="504"
        )
        == 1
    )


def test_the_timed_out_handler_is_cancelled(gateway: ServerProcess) -> None:
    assert httpx.get(gateway.base_url + "/hang", timeout=30).status_code == 504
    # The new app shares CALLS with the legacy app only in-process; the gateway runs both in
    # one process, so legacy's /calls shows the new view's counter too.
    wait_for(lambda: _calls(gateway).get("new:hang:ended", 0) >= 1, timeout=10)


def test_the_default_new_timeout_applies_to_entries_without_one(gateway: ServerProcess) -> None:
    response = httpx.get(gateway.base_url + "/slow", params={"seconds": 60}, timeout=30)
    assert response.status_code == 504
    assert "within 2 s" in response.json()["detail"]
    # A slow answer within the timeout is served as usual.
    assert (
        httpx.get(gateway.base_url + "/slow", params={"seconds": 0.1}, timeout=30).status_code
        == 200
    )


def test_an_answer_cut_after_it_started_is_counted_as_failed(gateway: ServerProcess) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(gateway.base_url + "/cut", timeout=30)
    labels = {"route": "/cut", "side": "new", "method": "GET"}
    wait_for(lambda: metric(gateway, "gateway_responses_failed_total", **labels) == 1, timeout=10)
    # The line follows within the log's batch interval.
    wait_for(lambda: any(r["path"] == "/cut" for r in _access_records(gateway)), timeout=10)
    records = [r for r in _access_records(gateway) if r["path"] == "/cut"]
    assert records[-1]["failed"] is True


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"/api/items/%D9%A1", id="arabic-indic"),
        pytest.param(b"/api/items/%EF%BC%91", id="fullwidth"),
        pytest.param(b"/api/items/%E0%A5%A7", id="devanagari"),
    ],
)
def test_unicode_digits_never_reach_legacy_for_a_template_routed_to_new(
    gateway: ServerProcess, raw: bytes
) -> None:
    status, response_headers, body = raw_request(gateway.port, raw)
    assert status == 400
    assert response_headers["x-gateway-side"] == "gateway"
    assert json.loads(body)["error"] == "bad_path"
    # ASCII digits still reach the entry, and its side.
    assert httpx.get(gateway.base_url + "/api/items/1").headers["x-gateway-side"] == "new"


def test_a_refused_path_is_logged_as_sent_and_every_record_is_one_line(
    gateway: ServerProcess,
) -> None:
    raw_request(gateway.port, b"/a/%2e%2e/b%E2%80%A8c")
    raw_request(gateway.port, b"/caf%C3%A9%C2%85x")  # (uvicorn refuses raw non-ASCII bytes)
    httpx.get(gateway.base_url + "/caf%C3%A9")
    wait_for(lambda: any(r["path"] == "/caf\u00e9" for r in _access_records(gateway)), 10)
    paths = [r["path"] for r in _access_records(gateway)]
    assert "/a/%2e%2e/b%E2%80%A8c" in paths
    assert "/caf%C3%A9%C2%85x" in paths
    # Each record, whatever its path holds, is exactly one line for any line-splitting reader.
    for line in gateway.log().split("\n"):
        if line.startswith("{"):
            assert len(line.splitlines()) == 1
            assert line.isascii()


def test_the_gateways_own_endpoints_carry_its_headers(gateway: ServerProcess) -> None:
    for path in ("/metrics", "/_gateway/health", "/_gateway/api/config"):
        response = httpx.get(gateway.base_url + path, headers={"X-Request-ID": "probe-1"})
        assert response.headers["x-request-id"] == "probe-1", path
        assert response.headers["x-gateway-side"] == "gateway", path


def test_health_needs_no_token_and_is_never_routed(gateway: ServerProcess) -> None:
    response = httpx.get(gateway.base_url + "/_gateway/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "problems": []}
    assert response.headers["cache-control"] == "no-store"


def test_fallback_answers_a_new_side_timeout_from_legacy(tmp_path: Path) -> None:
    routes_file = tmp_path / "routes.yaml"
    routes_file.write_text(
        "default: legacy\nroutes:\n"
        "  - {path: /hang, methods: [GET], target: new, timeout: 0.5, fallback: legacy}\n",
        encoding="utf-8",
    )
    with run_gateway(routes_file) as gateway:
        response = httpx.get(gateway.base_url + "/hang", timeout=30)
        assert response.status_code == 200
        assert response.json()["app"] == "legacy"
        assert metric(gateway, "gateway_fallbacks_total", route="/hang", reason="timeout") == 1
        new_504 = {"route": "/hang", "side": "new", "method": "GET", "status": "504"}
        assert metric(gateway, "gateway_requests_total", **new_504) == 1


def test_a_shadowed_primary_that_times_out_sends_no_copy(tmp_path: Path) -> None:
    routes_file = tmp_path / "routes.yaml"
    routes_file.write_text(
        "default: legacy\nroutes:\n"
        "  - {path: /hang, methods: [GET], target: shadow, primary: new, timeout: 0.5}\n",
        encoding="utf-8",
    )
    with run_gateway(routes_file) as gateway:
        assert httpx.get(gateway.base_url + "/hang", timeout=30).status_code == 504
        wait_for(
            lambda: (
                metric(
                    gateway, "gateway_shadow_comparisons_total", route="/hang", outcome="skipped"
                )
                == 1
            ),
            timeout=10,
        )
        for outcome in ("match", "mismatch", "error", "timeout", "noise"):
            labels = {"route": "/hang", "outcome": outcome}
            assert metric(gateway, "gateway_shadow_comparisons_total", **labels) == 0


def test_the_error_shape_is_the_deployments_own(tmp_path: Path) -> None:
    routes_file = tmp_path / "routes.yaml"
    routes_file.write_text(ROUTES, encoding="utf-8")
    template = '{"error": {"code": "{error}", "message": "{detail}", "status": "{status}"}}'
    with run_gateway(routes_file, env={"GATEWAY_ERROR_TEMPLATE": template}) as gateway:
        status, _, body = raw_request(gateway.port, b"/a/../b")
        assert status == 400
        assert json.loads(body) == {
            "error": {
                "code": "bad_path",
                "message": "the request path contains a '.' or '..' segment",
                "status": 400,
            }
        }
