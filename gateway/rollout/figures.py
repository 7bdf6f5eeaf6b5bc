"""The fleet's cumulative counters, and the figures of one route since its step began.

Counters only grow, so the figures of a step are the counters now less the counters when the
step began. Prometheus answers both (an instant query now, and one at the step's start); the
gateways' own `/metrics` (or the multiprocess registry on one host) only know now, so the
controller keeps the first totals it saw at or after a step's start as that step's baseline.
A counter that went down (a gateway restarted) counts from zero rather than going negative.
"""

from __future__ import annotations

import json
import math
import urllib.parse
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from gateway.guide.traffic import quantile
from gateway.observe.metrics import collect

# The families read, as gateway.observe.metrics declares them (tests/gateway/rollout checks
# they still match it). Not built from a GatewayMetrics here: in a worker with multiprocess
# metrics, building one would write its series into the shared folder.
REQUESTS = "gateway_requests_total"
DURATION_BUCKETS = "gateway_request_duration_seconds_bucket"
ROLLBACKS = "gateway_rollbacks_total"

SideKey = tuple[str, str, str]  # route, side, method


class FiguresError(OSError):
    """The fleet's figures could not be read; the message names the source."""


@dataclass(slots=True)
class SideTotals:
    requests: float = 0.0
    errors: float = 0.0  # 5xx answers
    buckets: dict[float, float] = field(default_factory=dict)  # upper bound -> cumulative

    def add(self, other: SideTotals) -> None:
        self.requests += other.requests
        self.errors += other.errors
        for bound, count in other.buckets.items():
            self.buckets[bound] = self.buckets.get(bound, 0.0) + count

    def since(self, start: SideTotals) -> SideTotals:
        if self.requests < start.requests:  # a reset: everything counted is new
            return self
        return SideTotals(
            self.requests - start.requests,
            max(0.0, self.errors - start.errors),
            {b: max(0.0, c - start.buckets.get(b, 0.0)) for b, c in self.buckets.items()},
        )

    @property
    def error_ratio(self) -> float | None:
        return self.errors / self.requests if self.requests > 0 else None

    def p99(self) -> float | None:
        return quantile(0.99, self.buckets)


@dataclass(slots=True)
class Totals:
    """Cumulative counters summed over every gateway process."""

    sides: dict[SideKey, SideTotals] = field(default_factory=dict)
    trips: dict[str, float] = field(default_factory=dict)  # guard rollbacks, by route

    def side(self, route: str, side: str, methods: frozenset[str] | None) -> SideTotals:
        total = SideTotals()
        for (name, which, method), values in self.sides.items():
            if name == route and which == side and (methods is None or method in methods):
                total.add(values)
        return total

    def _at(self, key: SideKey) -> SideTotals:
        return self.sides.setdefault(key, SideTotals())

    def add_families(self, families: Iterable[Metric]) -> None:
        for family in families:
            for sample in family.samples:
                self.add_sample(sample.name, sample.labels, sample.value)

    def add_sample(self, name: str, labels: dict[str, str], value: float) -> None:
        if "route" not in labels:
            return
        if name == ROLLBACKS:
            route = labels["route"]
            self.trips[route] = self.trips.get(route, 0.0) + value
            return
        if "side" not in labels or "method" not in labels:
            return
        key = (labels["route"], labels["side"], labels["method"])
        if name == REQUESTS:
            totals = self._at(key)
            totals.requests += value
            if labels.get("status", "").startswith("5"):
                totals.errors += value
        elif name == DURATION_BUCKETS and "le" in labels:
            bound = float(labels["le"])
            buckets = self._at(key).buckets
            buckets[bound] = buckets.get(bound, 0.0) + value


class FiguresSource(Protocol):
    @property
    def name(self) -> str: ...

    def totals(self) -> Totals:
        """The counters now; raises FiguresError."""
        ...

    def totals_at(self, when: float) -> Totals | None:
        """The counters at a past time (Unix seconds), or None if this source cannot tell."""
        ...


class MetricsSource:
    """The gateways' own `/metrics` (full URLs), summed: every replica of one host."""

    def __init__(self, urls: Iterable[str], token: str | None = None, timeout: float = 5.0):
        self.urls = list(urls)
        self.token = token
        self.timeout = timeout

    @property
    def name(self) -> str:
        return ", ".join(self.urls)

    def totals(self) -> Totals:
        totals = Totals()
        for url in self.urls:
            text = _get(url, self.token, self.timeout, "text/plain")
            try:
                totals.add_families(text_string_to_metric_families(text))
            except ValueError as exc:
                raise FiguresError(f"{url} did not answer Prometheus metrics: {exc}") from exc
        return totals

    def totals_at(self, when: float) -> Totals | None:
        return None


class RegistrySource:
    """A registry read in-process: the supervisor's, summing every worker's multiprocess files."""

    def __init__(self, registry: CollectorRegistry, name: str = "the workers' metrics") -> None:
        self.registry = registry
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    def totals(self) -> Totals:
        totals = Totals()
        totals.add_families(collect(self.registry))
        return totals

    def totals_at(self, when: float) -> Totals | None:
        return None


# Instant queries over every replica Prometheus scrapes. Totals are kept per series label set
# so that a route's methods can be filtered after the fact, as with the other sources.
_QUERIES = {
    REQUESTS: "sum by (route, side, method, status) (gateway_requests_total)",
    DURATION_BUCKETS: "sum by (route, side, method, le) (gateway_request_duration_seconds_bucket)",
    ROLLBACKS: "sum by (route) (gateway_rollbacks_total)",
}


class PrometheusSource:
    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    @property
    def name(self) -> str:
        return self.url

    def totals(self) -> Totals:
        return self._query(None)

    def totals_at(self, when: float) -> Totals | None:
        return self._query(when)

    def _query(self, when: float | None) -> Totals:
        totals = Totals()
        for name, query in _QUERIES.items():
            params = {"query": query}
            if when is not None:
                params["time"] = f"{when:.3f}"
            url = f"{self.url}/api/v1/query?{urllib.parse.urlencode(params)}"
            for labels, value in _vector(url, self.timeout):
                totals.add_sample(name, labels, value)
        return totals


def _vector(url: str, timeout: float) -> list[tuple[dict[str, str], float]]:
    body = _get(url, None, timeout, "application/json")
    try:
        answer: Any = json.loads(body)
        results = answer["data"]["result"]
        return [(dict(item["metric"]), float(item["value"][1])) for item in results]
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise FiguresError(f"{url} did not answer a Prometheus vector: {exc}") from exc


def _get(url: str, token: str | None, timeout: float, accept: str) -> str:
    request = urllib.request.Request(url, headers={"Accept": accept})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return str(response.read().decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise FiguresError(f"could not read {url}: {exc}") from exc


def finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
