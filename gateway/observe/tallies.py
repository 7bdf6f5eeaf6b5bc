"""The per-request metrics, tallied in plain structures and folded into Prometheus later.

A prometheus-client counter, histogram and gauge cost ~12 µs a request between them (a lock,
a validation and a Python loop over the buckets for each). Here a request adds to a dict entry
and one histogram bucket found by `bisect`, under one uncontended lock (a scrape may fold
from another thread). What was tallied is folded into the collectors at most `FOLD_EVERY`
seconds later by a timer on the event loop, before every scrape of the same registry (a
collector registered first folds before the others are read), at the gateway's shutdown, at
exit and before a fork. A scrape served by another worker (`--workers N`) therefore lags a
worker's last second at most; one served by the same process does not lag at all.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
import weakref
from bisect import bisect_left
from collections.abc import Iterable
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric

FOLD_EVERY = 1.0  # seconds a tally may wait before it reaches the collectors


class Running:
    """Requests being served by one side: a plain number, set on its gauge when folded."""

    __slots__ = ("value", "_tallies")

    def __init__(self, tallies: Tallies) -> None:
        self.value = 0
        self._tallies = tallies

    def inc(self) -> None:
        self.value += 1
        if not self._tallies.due:
            self._tallies.schedule()

    def dec(self) -> None:
        self.value -= 1
        if not self._tallies.due:
            self._tallies.schedule()


class Tallies:
    def __init__(self, requests: Counter, duration: Histogram, in_progress: Gauge) -> None:
        self.requests = requests
        self.duration = duration
        self.in_progress = in_progress
        self.bounds: list[float] = list(duration._upper_bounds)
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str, str, str], int] = {}
        # Per (route, side, method): the sum of the durations, then one count per bucket.
        self._times: dict[tuple[str, str, str], list[float]] = {}
        self._running: dict[str, Running] = {}
        self._children: dict[tuple[str, ...], Any] = {}
        self.due = False  # a fold is scheduled, or will happen at once
        self._timer: asyncio.TimerHandle | None = None
        _TALLIES.add(self)

    def count(self, route: str, side: str, method: str, status: str, duration: float) -> None:
        key = (route, side, method)
        with self._lock:
            counts = self._counts
            counts[(route, side, method, status)] = counts.get((route, side, method, status), 0) + 1
            times = self._times.get(key)
            if times is None:
                times = self._times[key] = [0.0] * (len(self.bounds) + 1)
            times[0] += duration
            times[1 + bisect_left(self.bounds, duration)] += 1
        if not self.due:
            self.schedule()

    def running(self, side: str) -> Running:
        tally = self._running.get(side)
        if tally is None:
            tally = self._running[side] = Running(self)
        return tally

    def schedule(self) -> None:
        self.due = True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # off the event loop: no timer would run, fold now
            self.fold()
            return
        self._timer = loop.call_later(FOLD_EVERY, self.fold)

    def fold(self) -> None:
        """Add what was tallied since the last fold to the Prometheus collectors."""
        with self._lock:
            counts, self._counts = self._counts, {}
            times, self._times = self._times, {}
            self.due = False
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        for labels, count in counts.items():
            self._child(self.requests, labels).inc(count)
        for series, tally in times.items():
            child = self._child(self.duration, series)
            # What Histogram.observe does, once per bucket rather than once per request.
            child._sum.inc(tally[0])
            buckets = child._buckets
            for index in range(len(self.bounds)):
                if tally[index + 1]:
                    buckets[index].inc(tally[index + 1])
        for side, running in list(self._running.items()):
            self._child(self.in_progress, (side,)).set(running.value)

    def _child(self, metric: Any, labels: tuple[str, ...]) -> Any:
        # labels() takes a lock and validates its arguments: once per series, not per fold.
        key = (metric._name, *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child


class FoldFirst:
    """A collector registered before the gateway's metrics: a scrape folds, then reads."""

    def __init__(self) -> None:
        self.tallies: Tallies | None = None  # set once the metrics it folds into exist

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        if self.tallies is not None:
            self.tallies.fold()
        return []


_TALLIES: weakref.WeakSet[Tallies] = weakref.WeakSet()


def fold_all() -> None:
    """Fold every gateway's tallies: at exit (a recycled worker), and before a fork."""
    for tallies in list(_TALLIES):
        tallies.fold()


atexit.register(fold_all)
os.register_at_fork(before=fold_all)
