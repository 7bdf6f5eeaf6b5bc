"""Traffic per route and method, read from the gateway's own metrics (a registry or `/metrics`).

Requests are `gateway_requests_total`; latency is `gateway_request_duration_seconds`, whose
buckets, summed over sides (and over gateways when several `/metrics` are read), give a p99 by
linear interpolation within the bucket, as Prometheus' `histogram_quantile` does.
"""

from __future__ import annotations

import math
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from gateway.routing.templates import TemplateError, parse_template

GATEWAY_SIDE = "gateway"  # the gateway's own answers: nobody's endpoint


@dataclass(slots=True)
class RouteTraffic:
    requests: float = 0.0
    new_requests: float = 0.0
    buckets: dict[float, float] = field(default_factory=dict)  # upper bound -> cumulative count

    def p99(self) -> float | None:
        return quantile(0.99, self.buckets)


@dataclass(slots=True)
class Traffic:
    by_route: dict[tuple[str, str], RouteTraffic] = field(default_factory=dict)
    total: float = 0.0
    new_total: float = 0.0

    def of(self, template: str, method: str) -> RouteTraffic | None:
        return self.by_route.get((route_key(template), method))

    def add(self, families: Iterable[Metric]) -> None:
        for family in families:
            for sample in family.samples:
                labels = sample.labels
                if "route" not in labels or labels.get("side") == GATEWAY_SIDE:
                    continue
                key = (route_key(labels["route"]), labels.get("method", ""))
                if sample.name == "gateway_requests_total":
                    route = self.by_route.setdefault(key, RouteTraffic())
                    route.requests += sample.value
                    self.total += sample.value
                    if labels.get("side") == "new":
                        route.new_requests += sample.value
                        self.new_total += sample.value
                elif sample.name == "gateway_request_duration_seconds_bucket":
                    route = self.by_route.setdefault(key, RouteTraffic())
                    bound = float(labels["le"])
                    route.buckets[bound] = route.buckets.get(bound, 0.0) + sample.value


def route_key(template: str) -> str:
    """Templates that match the same paths are one route, whatever their parameters' names
    (a table entry `/t/{id:int}` counts for the Flask rule `/t/<int:ticket_id>`)."""
    try:
        shape = parse_template(template).shape
    except TemplateError:
        return template
    return "/" + "/".join(value if kind == "static" else "{" + kind + "}" for kind, value in shape)


def quantile(q: float, buckets: dict[float, float]) -> float | None:
    if not buckets:
        return None
    bounds = sorted(buckets)
    total = buckets[bounds[-1]]
    if total <= 0:
        return None
    rank = q * total
    previous_bound, previous_count = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return previous_bound  # as Prometheus: the highest finite bound
            if count == previous_count:
                return bound
            return previous_bound + (bound - previous_bound) * (rank - previous_count) / (
                count - previous_count
            )
        previous_bound, previous_count = bound, count
    return previous_bound


class MetricsFetchError(OSError):
    """A `/metrics` URL that could not be read; the message names it."""


def fetch(urls: Iterable[str], token: str | None = None, timeout: float = 10.0) -> Traffic:
    """The traffic of every gateway whose full `/metrics` URL is given, summed."""
    traffic = Traffic()
    for url in urls:
        request = urllib.request.Request(url, headers={"Accept": "text/plain"})
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                text = response.read().decode("utf-8")
        except (OSError, ValueError) as exc:
            raise MetricsFetchError(f"could not read metrics from {url}: {exc}") from exc
        try:
            traffic.add(text_string_to_metric_families(text))
        except ValueError as exc:
            raise MetricsFetchError(f"{url} did not answer Prometheus metrics: {exc}") from exc
    return traffic
