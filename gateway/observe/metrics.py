"""The gateway's Prometheus metrics, built on a registry passed in.

With several worker processes (`gateway serve --workers N`), prometheus-client's multiprocess
mode is used: `PROMETHEUS_MULTIPROC_DIR` is set before the workers start, every worker writes its
values there, and a scrape of any worker aggregates all of them (see `exposition`). Gauges then
need a `multiprocess_mode` saying how the workers' values combine.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector

from gateway.routing.methods import LABELLED_METHODS

# Requests whose path neither the table nor the answering side's router knows, and requests
# the gateway refused before routing: fixed values, so scanners cannot grow the series count.
UNMATCHED_ROUTE = "__unmatched__"
REJECTED_ROUTE = "__rejected__"
OTHER_METHOD = "OTHER"


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def name_of(metric: Any) -> str:
    """A metric's family name as prometheus-client reports it (a counter's without `_total`)."""
    return str(metric.describe()[0].name)


def method_label(method: str) -> str:
    return method if method in LABELLED_METHODS else OTHER_METHOD


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.multiprocess = multiprocess_dir() is not None
        self.requests = Counter(
            "gateway_requests_total",
            "Requests answered, by route template, side, method and status code.",
            ["route", "side", "method", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "gateway_request_duration_seconds",
            "Time from the request reaching the gateway to the end of its response body.",
            ["route", "side", "method"],
            registry=registry,
        )
        self.in_progress = Gauge(
            "gateway_requests_in_progress",
            "Requests being served, by side.",
            ["side"],
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.route_target = Gauge(
            "gateway_route_target",
            "1 for each (route, target) of the route table in force.",
            ["route", "target"],
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.reloads = Counter(
            "gateway_config_reloads_total",
            "Attempts to load the routes file, by result (success or failure).",
            ["result"],
            registry=registry,
        )
        self.last_reload_success = Gauge(
            "gateway_config_last_reload_successful",
            "1 if the last attempt to load the routes file succeeded, else 0.",
            registry=registry,
            multiprocess_mode="livemin",
        )
        self.last_reload_time = Gauge(
            "gateway_config_last_reload_success_timestamp_seconds",
            "When the route table in force was loaded.",
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.table_entries = Gauge(
            "gateway_route_table_entries",
            "Entries in the route table in force.",
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.route_conflicts = Gauge(
            "gateway_route_conflicts",
            "Entries of the route table in force that capture a path the side's own router "
            "sends to another endpoint than theirs, counted once per endpoint captured, by side "
            "(gateway check lists them).",
            ["side"],
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.wsgi_rejected = Counter(
            "gateway_wsgi_rejected_total",
            "Legacy requests answered 503 because every WSGI thread was busy and the queue full.",
            registry=registry,
        )
        self.effective_target = Gauge(
            "gateway_route_effective_target",
            "1 for the target each route is served by now (legacy after an automatic rollback).",
            ["route", "target"],
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.canary_weight = Gauge(
            "gateway_canary_weight",
            "Percentage of a canary route's requests sent to the new side.",
            ["route"],
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.shadow_comparisons = Counter(
            "gateway_shadow_comparisons_total",
            "Shadow copies by outcome (match, mismatch, noise, error, timeout, skipped) and by "
            "the side that answered the client (primary); the copy went to the other side.",
            ["route", "outcome", "primary"],
            registry=registry,
        )
        self.shadow_duration = Histogram(
            "gateway_shadow_duration_seconds",
            "Latency of both sides on the same shadowed requests.",
            ["route", "side"],
            registry=registry,
        )
        self.fallbacks = Counter(
            "gateway_fallbacks_total",
            "Requests the new side failed (reason: status or exception) that legacy answered.",
            ["route", "reason"],
            registry=registry,
        )
        self.match_decisions = Counter(
            "gateway_match_decisions_total",
            "Requests of match routes by the rule that decided (its index, or otherwise) and "
            "the side it named.",
            ["route", "rule", "side"],
            registry=registry,
        )
        self.failed_responses = Counter(
            "gateway_responses_failed_total",
            "Answers a side started and then failed to finish: the client got a cut response "
            "(also counted in gateway_requests_total under the status that had been sent).",
            ["route", "side", "method"],
            registry=registry,
        )
        self.rollbacks = Counter(
            "gateway_rollbacks_total",
            "Automatic rollbacks of a route to legacy, by reason (error_ratio or latency).",
            ["route", "reason"],
            registry=registry,
        )
        # Hung legacy calls (gateway/wsgi/): a thread cannot be killed, so it stays stuck until
        # its call returns; the bridge replaces it up to a cap.
        self.wsgi_timeouts = Counter(
            "gateway_wsgi_timeouts_total",
            "Legacy calls that moved no data for GATEWAY_WSGI_TIMEOUT seconds (504, or cut).",
            registry=registry,
        )
        self.wsgi_stuck = Gauge(
            "gateway_wsgi_stuck_threads",
            "WSGI threads still running a call that timed out.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.wsgi_queue_timeouts = Counter(
            "gateway_wsgi_queue_timeouts_total",
            "Legacy requests answered 503 after waiting GATEWAY_WSGI_QUEUE_TIMEOUT for a thread.",
            registry=registry,
        )
        # Summed over the live workers: the legacy calls the whole deployment runs at once.
        self.wsgi_concurrency_limit = Gauge(
            "gateway_wsgi_concurrency_limit",
            "WSGI threads allowed to run calls at once (adaptive: follows the app's behaviour).",
            registry=registry,
            multiprocess_mode="livesum",
        )
        # Sides served over HTTP (gateway.sides.http): their connection pool and failures.
        self.http_side_connections = Gauge(
            "gateway_http_side_connections",
            "Connections to a side served over HTTP: in use (a request or its answer on it) and "
            "requests waiting for one (the pool is GATEWAY_HTTP_POOL_SIZE).",
            ["side", "state"],
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.http_side_errors = Counter(
            "gateway_http_side_connection_errors_total",
            "Attempts a side served over HTTP did not answer or cut, by error: connect "
            "(refused, unknown host, timed out), closed, protocol, timeout (in a body).",
            ["side", "error"],
            registry=registry,
        )
        self._published: set[tuple[str, ...]] = set()
        # Children of the per-request metrics by label values: prometheus-client's labels()
        # takes a lock and validates its arguments on every call, a few microseconds each.
        # The label values are bounded (templates, sides, methods, statuses), so are these.
        self._counted: dict[tuple[str, str, str, str], Any] = {}
        self._timed: dict[tuple[str, str, str], Any] = {}
        self._running: dict[str, Any] = {}
        for result in ("success", "failure"):
            self.reloads.labels(result)  # both series exist from the start, at 0

    def count(self, route: str, side: str, method: str, status: str, duration: float) -> None:
        """One answer, in gateway_requests_total and gateway_request_duration_seconds."""
        counted = self._counted.get((route, side, method, status))
        if counted is None:
            counted = self.requests.labels(route, side, method, status)
            self._counted[(route, side, method, status)] = counted
        counted.inc()
        timed = self._timed.get((route, side, method))
        if timed is None:
            timed = self._timed[(route, side, method)] = self.duration.labels(route, side, method)
        timed.observe(duration)

    def running(self, side: str) -> Any:
        """The gateway_requests_in_progress child of one side."""
        child = self._running.get(side)
        if child is None:
            child = self._running[side] = self.in_progress.labels(side)
        return child

    def publish_table(self, routes: Iterable[tuple[str, str]], size: int) -> None:
        """Make gateway_route_target show exactly `routes` (pairs of template and target)."""
        self._published = self.replace_series(self.route_target, self._published, set(routes))
        self.table_entries.set(size)

    def replace_series(
        self, gauge: Gauge, old: set[tuple[str, ...]], new: set[tuple[str, ...]]
    ) -> set[tuple[str, ...]]:
        """Set `gauge` to 1 for each label tuple of `new` and forget those only in `old`."""
        for stale in old - new:
            self.forget(gauge, stale)
        for labels in new:
            gauge.labels(*labels).set(1)
        return new

    def forget(self, gauge: Gauge, labels: tuple[str, ...]) -> None:
        if self.multiprocess:
            # Removing a series only forgets it in this process; the value stays in the
            # worker's file, so it is set to 0 instead.
            gauge.labels(*labels).set(0)
        else:
            gauge.remove(*labels)


def aggregated(registry: CollectorRegistry) -> CollectorRegistry:
    """The registry to read: with several workers, one summing every worker's values."""
    if multiprocess_dir() is None:
        return registry
    combined = CollectorRegistry()
    MultiProcessCollector(combined)  # type: ignore[no-untyped-call]
    return combined


def collect(registry: CollectorRegistry) -> Iterable[Metric]:
    return aggregated(registry).collect()


def exposition(registry: CollectorRegistry, accept: str | None) -> tuple[bytes, str]:
    """The body and content type of a scrape, aggregated over all workers when there are several."""
    encoder, content_type = choose_encoder(accept or "")
    return encoder(aggregated(registry)), content_type


class BridgeMetrics:
    """The WSGI bridge's observer (gateway.wsgi.BridgeObserver): what it tells, as metrics."""

    def __init__(self, metrics: GatewayMetrics) -> None:
        self.metrics = metrics

    def rejected(self) -> None:
        self.metrics.wsgi_rejected.inc()

    def timed_out(self) -> None:
        self.metrics.wsgi_timeouts.inc()

    def queue_timed_out(self) -> None:
        self.metrics.wsgi_queue_timeouts.inc()

    def stuck(self, count: int) -> None:
        self.metrics.wsgi_stuck.set(count)

    def limit(self, limit: int) -> None:
        self.metrics.wsgi_concurrency_limit.set(limit)


class HTTPSideMetrics:
    """An HTTP side's observer (gateway.sides.http_pool.HTTPSideObserver), as metrics."""

    def __init__(self, metrics: GatewayMetrics) -> None:
        self.metrics = metrics
        self._gauges: dict[str, tuple[Any, Any]] = {}

    def connections(self, side: str, in_use: int, waiting: int) -> None:
        gauges = self._gauges.get(side)
        if gauges is None:
            gauge = self.metrics.http_side_connections
            gauges = (gauge.labels(side, "in_use"), gauge.labels(side, "waiting"))
            self._gauges[side] = gauges
        gauges[0].set(in_use)
        gauges[1].set(waiting)

    def connection_error(self, side: str, reason: str) -> None:
        self.metrics.http_side_errors.labels(side, reason).inc()
