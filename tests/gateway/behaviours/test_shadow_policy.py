"""The shadow policy on choosers other than `target: shadow`, in-process: each request is
answered by the side its chooser picks and compared with the other side, both ways."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from gateway.behaviours.canary import BUCKETS, bucket_of
from tests.gateway.in_process import serving, settings
from tests.waiting import eventually


def key_on(new: bool, weight: float) -> str:
    """A sticky key the canary at `weight` sends to the new side (or to legacy)."""
    threshold = round(weight * BUCKETS / 100)
    return next(
        key
        for index in range(10_000)
        if (bucket_of((key := f"user-{index}").encode()) < threshold) == new
    )


def compared(registry: CollectorRegistry, route: str, primary: str) -> float:
    labels = {"route": route, "outcome": "match", "primary": primary}
    return registry.get_sample_value("gateway_shadow_comparisons_total", labels) or 0.0


CANARY = """\
routes:
  - path: "/compare/{case}"
    target: canary
    weight: 50
    sticky: "header:X-User"
    shadow: {noise_sample: 0}
"""
MATCH = """\
routes:
  - path: "/compare/{case}"
    target: match
    rules: [{header: X-Beta, equals: "1", side: new}]
    shadow: true
"""


@pytest.mark.parametrize(
    ("routes", "new_request", "legacy_request"),
    [
        pytest.param(
            CANARY,
            {"x-user": key_on(True, 50)},
            {"x-user": key_on(False, 50)},
            id="canary",
        ),
        pytest.param(MATCH, {"x-beta": "1"}, {}, id="match"),
    ],
)
def test_each_answer_is_compared_with_the_other_side(
    tmp_path: Path, routes: str, new_request: dict[str, str], legacy_request: dict[str, str]
) -> None:
    registry = CollectorRegistry()
    route = "/compare/{case}"

    async def run() -> tuple[str, str]:
        async with serving(settings(tmp_path, routes), registry) as (_, client):
            new = await client.get("/compare/same", headers=new_request)
            legacy = await client.get("/compare/same", headers=legacy_request)
            await eventually(
                lambda: (
                    compared(registry, route, "new") == 1
                    and compared(registry, route, "legacy") == 1
                ),
                what="a comparison in each direction",
            )
            return new.headers["x-gateway-side"], legacy.headers["x-gateway-side"]

    assert asyncio.run(run()) == ("new", "legacy")
    # The copies are not served traffic: each side counted one answer, to its own client.
    for side in ("new", "legacy"):
        labels = {"route": route, "side": side, "method": "GET", "status": "200"}
        assert registry.get_sample_value("gateway_requests_total", labels) == 1


def test_a_canary_without_the_policy_sends_no_copy(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    routes = CANARY.replace("    shadow: {noise_sample: 0}\n", "")

    async def run() -> None:
        async with serving(settings(tmp_path, routes), registry) as (_, client):
            for key in (key_on(True, 50), key_on(False, 50)):
                assert (await client.get("/compare/same", headers={"x-user": key})).is_success

    asyncio.run(run())
    for primary in ("new", "legacy"):
        assert compared(registry, "/compare/{case}", primary) == 0
