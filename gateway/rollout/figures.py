"""The fleet's cumulative counters, and the figures of one route since its step began.

Counters only grow, so the figures of a step are the counters now less the counters when the
step began. Prometheus answers both (an instant query now, and one at the step's start); the
gateways' own `/metrics` (or the multiprocess registry on one host) only know now, so the
controller keeps the first totals it saw at or after a step's start as that step's baseline.
Counters are kept per gateway (its URL, or its Prometheus target): one whose counters went down
restarted, and counts from zero rather than going negative.
"""

from __future__ import annotations

import base64
import http.client
import json
import math
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from gateway.guide.traffic import quantile
from gateway.http.urls import masked
from gateway.observe.metrics import collect

# The families read, as gateway.observe.metrics declares them (tests/gateway/rollout checks
# they still match it). Not built from a GatewayMetrics here: in a worker with multiprocess
# metrics, building one would write its series into the shared folder.
REQUESTS = "gateway_requests_total"
DURATION_BUCKETS = "gateway_request_duration_seconds_bucket"
ROLLBACKS = "gateway_rollbacks_total"
WEIGHT = "gateway_canary_weight"  # the weight each gateway serves: has it applied the last step?
# A bound on one answer read (a gateway's /metrics with 5,000 routes is a few MiB): a URL that
# streams without end must not fill the controller's memory.
MAX_ANSWER_BYTES = 64 << 20

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

    @property
    def error_ratio(self) -> float | None:
        return self.errors / self.requests if self.requests > 0 else None

    def p99(self) -> float | None:
        return quantile(0.99, self.buckets)

    def quantile(self, q: float) -> float | None:
        """Interpolated inside its bucket, as Prometheus' histogram_quantile()."""
        return quantile(q, self.buckets)


# Where a series was counted: one gateway (a `/metrics` URL, or a Prometheus target's instance
# and job). A gateway that restarts resets all of its counters at once, so resets are told
# apart per origin; summing first would hide one gateway's reset behind the others' growth.
Origin = tuple[str, ...]
Series = tuple[str, tuple[tuple[str, str], ...]]  # family, labels
_READ = (REQUESTS, DURATION_BUCKETS, ROLLBACKS)


@dataclass(slots=True)
class Totals:
    """Cumulative counters of every gateway process, per origin and series."""

    origins: dict[Origin, dict[Series, float]] = field(default_factory=dict)
    weights: dict[Origin, dict[str, float]] = field(default_factory=dict)  # now, not counted
    # The samples by route, built when first read: each rollout reads its own route's only.
    _by_route: dict[str, list[tuple[str, dict[str, str], float]]] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def add_families(self, families: Iterable[Metric], origin: Origin = ()) -> None:
        for family in families:
            for sample in family.samples:
                self.add_sample(sample.name, sample.labels, sample.value, origin)

    def add_sample(
        self, name: str, labels: dict[str, str], value: float, origin: Origin = ()
    ) -> None:
        if name not in (*_READ, WEIGHT) or "route" not in labels:
            return
        if not math.isfinite(value) or value < 0:
            # Not a count (NaN, infinite, negative): judged, it could pass any gate.
            raise FiguresError(f"{name}{labels} is {value}, not a count")
        if name == WEIGHT:
            self.weights.setdefault(origin, {})[labels["route"]] = value
            return
        self._by_route = None
        series = self.origins.setdefault(origin, {})
        key = (name, tuple(sorted(labels.items())))
        series[key] = series.get(key, 0.0) + value

    def since(self, start: Totals) -> Totals:
        """What was counted after `start`, as Prometheus' `increase()` reads a reset: an origin
        with a series lower than at the start, or gone, restarted, and all it counts is new."""
        counted = Totals(weights=self.weights)
        for origin, series in self.origins.items():
            before = start.origins.get(origin, {})
            restarted = any(series.get(key, 0.0) < value for key, value in before.items())
            counted.origins[origin] = {
                key: value if restarted else max(0.0, value - before.get(key, 0.0))
                for key, value in series.items()
            }
        return counted

    def side(self, route: str, side: str, methods: frozenset[str] | None) -> SideTotals:
        total = SideTotals()
        for name, labels, value in self._samples(route):
            if labels.get("side") != side or "method" not in labels:
                continue
            if methods is not None and labels["method"] not in methods:
                continue
            if name == REQUESTS:
                total.requests += value
                if labels.get("status", "").startswith("5"):
                    total.errors += value
            elif name == DURATION_BUCKETS and "le" in labels:
                bound = float(labels["le"])
                total.buckets[bound] = total.buckets.get(bound, 0.0) + value
        return total

    def serving(self, route: str) -> tuple[float, ...]:
        """The canary weight each gateway that reports `route` serves it at."""
        return tuple(weights[route] for weights in self.weights.values() if route in weights)

    def trips(self, route: str) -> float:
        """Guard rollbacks of `route`, summed."""
        return sum(value for name, _, value in self._samples(route) if name == ROLLBACKS)

    def trips_by_route(self) -> dict[str, dict[str, float]]:
        """Guard rollbacks of every route, by reason ("" where the source drops it)."""
        trips: dict[str, dict[str, float]] = {}
        for series in self.origins.values():
            for (name, pairs), value in series.items():
                if name == ROLLBACKS and value > 0:
                    labels = dict(pairs)
                    reasons = trips.setdefault(labels["route"], {})
                    reason = labels.get("reason", "")
                    reasons[reason] = reasons.get(reason, 0.0) + value
        return trips

    def _samples(self, route: str) -> list[tuple[str, dict[str, str], float]]:
        if self._by_route is None:
            self._by_route = {}
            for series in self.origins.values():
                for (name, pairs), value in series.items():
                    labels = dict(pairs)
                    self._by_route.setdefault(labels["route"], []).append((name, labels, value))
        return self._by_route.get(route, [])


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
        return ", ".join(redacted(url) for url in self.urls)

    def totals(self) -> Totals:
        totals = Totals()
        for url in self.urls:
            text = _get(url, self.token, self.timeout, "text/plain")
            try:
                totals.add_families(text_string_to_metric_families(text), (url,))
            except (ValueError, FiguresError) as exc:
                shown = redacted(url)
                raise FiguresError(f"{shown} did not answer Prometheus metrics: {exc}") from exc
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
# so that a route's methods can be filtered after the fact, as with the other sources, and per
# scraped target (instance, job), so that one replica's restart is told apart from the others.
_TARGET = ("instance", "job")
_BY = "route, side, method, instance, job"
_QUERIES = {
    REQUESTS: f"sum by ({_BY}, status) (gateway_requests_total)",
    DURATION_BUCKETS: f"sum by ({_BY}, le) (gateway_request_duration_seconds_bucket)",
    ROLLBACKS: "sum by (route, instance, job) (gateway_rollbacks_total)",
    WEIGHT: "max by (route, instance, job) (gateway_canary_weight)",
}


class PrometheusSource:
    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    @property
    def name(self) -> str:
        return redacted(self.url)

    def totals(self) -> Totals:
        return self._query(None)

    def totals_at(self, when: float) -> Totals | None:
        past = self._query(when)
        # Nothing at all then: Prometheus kept nothing of that time (it is newer, or the time
        # is past its retention). Unknown, not zero: zero would make every request this step's.
        return past if past.origins else None

    def _query(self, when: float | None) -> Totals:
        totals = Totals()
        for name, query in _QUERIES.items():
            params = {"query": query}
            if when is not None:
                params["time"] = f"{when:.3f}"
            url = f"{self.url}/api/v1/query?{urllib.parse.urlencode(params)}"
            for labels, value in _vector(url, self.timeout):
                origin = tuple(labels.pop(label, "") for label in _TARGET)
                totals.add_sample(name, labels, value, origin)
        return totals


def _vector(url: str, timeout: float) -> list[tuple[dict[str, str], float]]:
    body = _get(url, None, timeout, "application/json")
    try:
        answer: Any = json.loads(body)
        results = answer["data"]["result"]
        return [(dict(item["metric"]), float(item["value"][1])) for item in results]
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise FiguresError(f"{redacted(url)} did not answer a Prometheus vector: {exc}") from exc


def _get(url: str, token: str | None, timeout: float, accept: str) -> str:
    plain, basic = _credentials(url)
    request = urllib.request.Request(plain, headers={"Accept": accept})
    if basic:
        request.add_header("Authorization", f"Basic {basic}")
    elif token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body: bytes = response.read(MAX_ANSWER_BYTES + 1)
    except urllib.error.HTTPError as exc:
        exc.close()  # it holds the answer's connection open until collected
        raise FiguresError(f"could not read {redacted(url)}: {exc!r}") from exc
    except (OSError, ValueError, http.client.HTTPException) as exc:
        # HTTPException: a port that answers something else than HTTP (BadStatusLine), or an
        # answer cut short (IncompleteRead); neither is an OSError.
        raise FiguresError(f"could not read {redacted(url)}: {exc!r}") from exc
    if len(body) > MAX_ANSWER_BYTES:
        raise FiguresError(f"{redacted(url)} answered more than {MAX_ANSWER_BYTES >> 20} MiB")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FiguresError(f"{redacted(url)} did not answer UTF-8 text: {exc}") from exc


def url_problem(url: str) -> str | None:
    """Why `url` cannot be read as a metrics or Prometheus URL; None if it can."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "give an http:// or https:// URL"
    try:
        parts.port  # noqa: B018 - reading it is the check
    except ValueError:
        return "the port is not a number"
    return None


def _credentials(url: str) -> tuple[str, str | None]:
    """The URL without `user:password@`, and those as a Basic credential (urllib would take
    them for part of the host name)."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None:
        return url, None
    host = parts.netloc.rpartition("@")[2]
    pair = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
    return parts._replace(netloc=host).geturl(), base64.b64encode(pair.encode()).decode()


def redacted(url: str) -> str:
    """The URL as logs and messages may show it: a password in it replaced by `***`."""
    return masked(url)
