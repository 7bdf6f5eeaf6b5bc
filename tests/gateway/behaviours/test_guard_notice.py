"""A gateway without a rollout controller tells its own guard rollbacks, once per trip."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from gateway.settings import GatewaySettings
from tests.gateway.in_process import serving, settings
from tests.waiting import eventually
from tests.webhook_receiver import webhook_receiver

ROUTES = """\
routes:
  - path: "/fails/{name}"
    target: new
    guard: {min_requests: 5, max_error_ratio: 0.1}
"""
LEGACY = "tests.gateway.observe.trace_apps:legacy_app"
NEW = "tests.gateway.observe.trace_apps:new_app"


def test_a_guard_trip_is_told_once_with_its_reason_and_figures(tmp_path: Path) -> None:
    with webhook_receiver() as (url, hooks):

        async def run() -> list[str]:
            gateway_settings = settings(
                tmp_path, ROUTES, legacy_app=LEGACY, new_app=NEW, notify_url=url
            )
            async with serving(gateway_settings, CollectorRegistry()) as (_, client):
                sides = []
                for _ in range(12):  # the trip, then legacy answers: no trip again
                    response = await client.get("/fails/one")
                    sides.append(response.headers["x-gateway-side"])
                await eventually(lambda: len(hooks.bodies) == 1, what="the rollback told")
                return sides

        sides = asyncio.run(run())
    assert sides == ["new"] * 5 + ["legacy"] * 7
    [told] = hooks.bodies
    assert told["event"] == "guard_rollback"
    assert told["route"] == "/fails/{name}"
    assert told["gate"] == "guard (error_ratio)"
    assert told["reason"] == "new side: 5 5xx in 5 answers (100.0% > 10.0%) over 60 s"
    assert told["figures"]["new_requests"] == 5 and told["figures"]["new_error_ratio"] == 1.0
    assert told["configured_target"] == "new"


@pytest.mark.parametrize(
    ("values", "gateway_tells"),
    [
        pytest.param({}, True, id="no controller"),
        pytest.param({"rollout": True}, False, id="the host's controller tells"),
        pytest.param({"notify_rollbacks": "controller"}, False, id="a fleet controller tells"),
        pytest.param({"rollout": True, "notify_rollbacks": "gateway"}, True, id="set so"),
    ],
)
def test_who_tells_guard_rollbacks(values: dict[str, object], gateway_tells: bool) -> None:
    tells = GatewaySettings(**values).gateway_notifies_rollbacks  # type: ignore[arg-type]
    assert tells is gateway_tells


def test_a_notify_url_must_be_http_and_is_never_shown() -> None:
    with pytest.raises(ValueError, match="URL 2 is not an http") as error:
        GatewaySettings(notify_url="https://hooks.example/ok,ftp://user:s3cret@host/x")
    assert "s3cret" not in str(error.value)
    assert GatewaySettings(notify_url=" , ").notify_url is None
