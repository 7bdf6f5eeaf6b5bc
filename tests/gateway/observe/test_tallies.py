from __future__ import annotations

import asyncio
import random

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.exposition import generate_latest

from gateway.observe.metrics import GatewayMetrics, exposition
from gateway.observe.tallies import FOLD_EVERY, fold_all
from tests.waiting import eventually

LABELS = {"route": "/api/items", "side": "new", "method": "GET"}


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_folded_tallies_read_as_prometheus_would_have_counted_them() -> None:
    durations = [random.uniform(0, 12) for _ in range(500)] + [0.005, 0.01, 10.0, 1e9]
    registry = CollectorRegistry()
    metrics = GatewayMetrics(registry)
    direct = CollectorRegistry()
    histogram = Histogram("gateway_request_duration_seconds", "h", list(LABELS), registry=direct)
    for duration in durations:
        metrics.count("/api/items", "new", "GET", "200", duration)  # off a loop: folded at once
        histogram.labels(*LABELS.values()).observe(duration)

    def samples(reg: CollectorRegistry) -> dict[tuple[str, str], float]:
        return {
            (s.name, s.labels.get("le", "")): s.value
            for family in reg.collect()
            if family.name == "gateway_request_duration_seconds"
            for s in family.samples
            if not s.name.endswith("_created")
        }

    folded, observed = samples(registry), samples(direct)
    assert folded.keys() == observed.keys()
    for key, value in observed.items():
        assert abs(folded[key] - value) <= 1e-6 * max(1.0, abs(value)), key
    assert _value(registry, "gateway_requests_total", status="200", **LABELS) == len(durations)


def test_a_scrape_folds_what_the_loop_has_not_folded_yet() -> None:
    async def run() -> None:
        registry = CollectorRegistry()
        metrics = GatewayMetrics(registry)
        metrics.count("/api/items", "new", "GET", "200", 0.01)
        running = metrics.running("new")
        running.inc()
        running.inc()
        # Read at once, well before the timer's fold: the scrape folded first.
        assert _value(registry, "gateway_requests_total", status="200", **LABELS) == 1
        assert _value(registry, "gateway_requests_in_progress", side="new") == 2
        body, _ = exposition(registry, None)
        assert b'gateway_requests_in_progress{side="new"} 2.0' in body
        running.dec()
        assert b'gateway_requests_in_progress{side="new"} 1.0' in generate_latest(registry)

    asyncio.run(run())


def test_the_loop_folds_within_a_second() -> None:
    async def run() -> None:
        registry = CollectorRegistry()
        metrics = GatewayMetrics(registry)
        metrics.count("/api/items", "new", "GET", "200", 0.01)
        requests = metrics.requests.labels("/api/items", "new", "GET", "200")
        assert requests._value.get() == 0  # tallied, not folded yet
        # Read from the counter itself, not through the registry (which would fold).
        await eventually(lambda: requests._value.get() == 1, timeout=FOLD_EVERY * 10)

    asyncio.run(run())


def test_tallies_are_folded_at_exit_and_before_a_fork() -> None:
    async def run() -> None:
        registry = CollectorRegistry()
        metrics = GatewayMetrics(registry)
        metrics.count("/api/items", "new", "GET", "500", 0.2)
        fold_all()  # what atexit and os.register_at_fork(before=...) call
        counter = metrics.requests.labels("/api/items", "new", "GET", "500")
        assert counter._value.get() == 1

    asyncio.run(run())
