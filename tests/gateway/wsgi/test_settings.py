"""Choosing and sizing the legacy side's bridge from the gateway settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from a2wsgi import WSGIMiddleware
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from gateway.app import create_app
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
    assert bridge.on_reject is not None
    bridge.on_reject()  # what the bridge calls when it answers 503
    assert registry.get_sample_value("gateway_wsgi_rejected_total") == 1


def test_a2wsgi_stays_available(tmp_path: Path) -> None:
    app = create_app(settings(tmp_path, wsgi_bridge="a2wsgi"), registry=CollectorRegistry())
    assert isinstance(app.sides["legacy"].app, WSGIMiddleware)


def test_settings_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_WSGI_BRIDGE", "a2wsgi")
    monkeypatch.setenv("GATEWAY_WSGI_QUEUE_LIMIT", "0")
    monkeypatch.setenv("GATEWAY_WSGI_BUFFER_LIMIT", "65536")
    read = GatewaySettings()
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
    ],
)
def test_invalid_settings_are_refused(tmp_path: Path, name: str, value: object) -> None:
    with pytest.raises(ValidationError, match=name):
        settings(tmp_path, **{name: value})
