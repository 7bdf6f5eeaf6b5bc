"""Choosing and sizing the legacy side's bridge from the gateway settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from a2wsgi import WSGIMiddleware
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from gateway.app import create_app
from gateway.http.body_limits import BodyLimits
from gateway.settings import GatewaySettings
from gateway.wsgi import WSGIBridge
from tests.servers import SAMPLE_LEGACY, SAMPLE_NEW


def settings(tmp_path: Path, **values: Any) -> GatewaySettings:
    routes = tmp_path / "routes.yaml"
    routes.write_text("default: legacy\nroutes: []\n", encoding="utf-8")
    return GatewaySettings(
        routes_file=routes, legacy_app=SAMPLE_LEGACY, new_app=SAMPLE_NEW, **values
    )


def test_the_gateway_bridge_is_the_default(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    app = create_app(
        settings(tmp_path, wsgi_threads=3, wsgi_queue_limit=7, wsgi_buffer_limit=10),
        registry=registry,
    )
    bridge = app.sides["legacy"].app
    assert isinstance(bridge, WSGIBridge)
    assert (bridge.threads, bridge.queue_limit, bridge.buffer_limit) == (3, 7, 10)
    bridge.observer.rejected()  # what the bridge tells when it answers 503
    assert registry.get_sample_value("gateway_wsgi_rejected_total") == 1


def test_timeouts_and_body_limits_reach_the_bridge(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    values = {
        "wsgi_threads": 3,
        "wsgi_timeout": 2.5,
        "wsgi_max_stuck": 5,
        "wsgi_body_buffer": 1000,
        "body_timeout": 4.0,
        "max_body": 2000,
    }
    app = create_app(settings(tmp_path, **values), registry=registry)
    bridge = app.sides["legacy"].app
    assert isinstance(bridge, WSGIBridge)
    assert (bridge.timeout, bridge.pool.max_stuck, bridge.body_buffer) == (2.5, 5, 1000)
    assert bridge.body_limits == BodyLimits(idle_timeout=4.0, max_size=2000)
    # The health probe asks each side; the legacy side asks its bridge.
    assert app.own.health_checks == tuple(side.health_problem for side in app.sides.values())
    assert app.sides["legacy"].health_problem() is None
    assert bridge.pool.on_stuck is not None
    bridge.observer.timed_out()  # the observer the gateway gave it counts in its metrics
    bridge.pool.on_stuck(2)
    assert registry.get_sample_value("gateway_wsgi_timeouts_total") == 1
    assert registry.get_sample_value("gateway_wsgi_stuck_threads") == 2


def test_by_default_twice_the_threads_may_be_stuck(tmp_path: Path) -> None:
    app = create_app(settings(tmp_path, wsgi_threads=4), registry=CollectorRegistry())
    bridge = app.sides["legacy"].app
    assert isinstance(bridge, WSGIBridge)
    assert (bridge.timeout, bridge.pool.max_stuck, bridge.body_buffer) == (30.0, 8, 65536)
    assert bridge.body_limits == BodyLimits(idle_timeout=10.0, max_size=None)


def test_concurrency_is_adaptive_by_default_and_queue_waits_are_bounded(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    app = create_app(settings(tmp_path, wsgi_threads=6), registry=registry)
    bridge = app.sides["legacy"].app
    assert isinstance(bridge, WSGIBridge)
    assert bridge.limiter is not None and bridge.limiter.max_limit == 6
    assert (bridge.queue_timeout, bridge.wait_limit) == (2.0, 2.0)
    assert registry.get_sample_value("gateway_wsgi_concurrency_limit") == 6
    bridge.observer.queue_timed_out()
    assert registry.get_sample_value("gateway_wsgi_queue_timeouts_total") == 1


def test_fixed_concurrency_runs_every_thread(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    values = {"wsgi_threads": 5, "wsgi_concurrency": "fixed", "wsgi_queue_timeout": 60.0}
    app = create_app(settings(tmp_path, **values), registry=registry)
    bridge = app.sides["legacy"].app
    assert isinstance(bridge, WSGIBridge)
    assert (bridge.limiter, bridge.pool.limit) == (None, 5)
    assert bridge.wait_limit == 30.0  # beyond wsgi_timeout, that one bounds the wait (504)
    assert registry.get_sample_value("gateway_wsgi_concurrency_limit") == 5


def test_a2wsgi_stays_available(tmp_path: Path) -> None:
    app = create_app(settings(tmp_path, wsgi_bridge="a2wsgi"), registry=CollectorRegistry())
    assert isinstance(app.sides["legacy"].app, WSGIMiddleware)


def test_settings_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_WSGI_BRIDGE", "a2wsgi")
    monkeypatch.setenv("GATEWAY_WSGI_QUEUE_LIMIT", "0")
    monkeypatch.setenv("GATEWAY_WSGI_BUFFER_LIMIT", "65536")
    monkeypatch.setenv("GATEWAY_WSGI_TIMEOUT", "1.5")
    monkeypatch.setenv("GATEWAY_WSGI_MAX_STUCK", "0")
    monkeypatch.setenv("GATEWAY_WSGI_BODY_BUFFER", "0")
    monkeypatch.setenv("GATEWAY_BODY_TIMEOUT", "2")
    monkeypatch.setenv("GATEWAY_MAX_BODY", "100")
    read = GatewaySettings()
    assert (read.wsgi_timeout, read.wsgi_max_stuck, read.wsgi_body_buffer) == (1.5, 0, 0)
    assert (read.body_timeout, read.max_body) == (2.0, 100)
    assert (read.wsgi_bridge, read.wsgi_queue_limit, read.wsgi_buffer_limit) == (
        "a2wsgi",
        0,
        65536,
    )


@pytest.mark.parametrize(
    "name, value",
    [
        pytest.param("wsgi_bridge", "starlette", id="unknown-bridge"),
        pytest.param("wsgi_queue_limit", -1, id="negative-queue"),
        pytest.param("wsgi_buffer_limit", -1, id="negative-buffer"),
        pytest.param("wsgi_timeout", 0, id="no-timeout"),
        pytest.param("wsgi_concurrency", "auto", id="unknown-concurrency"),
        pytest.param("wsgi_queue_timeout", 0, id="no-queue-timeout"),
        # Shorter than a worker thread takes to wake: every call refused, with threads idle.
        pytest.param("wsgi_queue_timeout", 1e-6, id="queue-timeout-below-a-thread-wakeup"),
        pytest.param("wsgi_timeout", 1e-6, id="timeout-below-a-thread-wakeup"),
        pytest.param("wsgi_max_stuck", -1, id="negative-max-stuck"),
        pytest.param("wsgi_body_buffer", -1, id="negative-body-buffer"),
        pytest.param("body_timeout", 0, id="no-body-timeout"),
        pytest.param("max_body", -1, id="negative-max-body"),
    ],
)
def test_invalid_settings_are_refused(tmp_path: Path, name: str, value: object) -> None:
    with pytest.raises(ValidationError, match=name):
        settings(tmp_path, **{name: value})
