"""Automatic rollback: a route served by the new side goes back to legacy when the new side
fails or slows down, judged over a sliding window.

Each guarded route keeps, per side, one-second buckets of request counts, 5xx counts and a
latency histogram, so judging costs the same at 10 or 10,000 requests a second. Decisions need
`min_requests` new-side requests in the window (and as many legacy ones for the latency test):
low traffic never triggers a rollback, and never clears one either. A rollback lasts until the
route's entry changes in the routes file, or for `cooldown` seconds when that is set.

Every worker process judges its own traffic: no state is shared between workers or replicas, so
with N workers each sees about 1/N of the route's requests (set `min_requests` accordingly).
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.options.guard import GuardOptions
from gateway.pipeline.entry_state import EntryState
from gateway.pipeline.exchange import Exchange
from gateway.routing.table import RouteEntry
from gateway.sides import LEGACY, NEW, SIDE_NAMES, is_new
from gateway.sides import SideName as Side

__all__ = ["Guard", "GuardOptions", "GuardWatch", "Rollback", "describe_guard", "guard_of"]


# Latency histogram bounds: 1 ms to about 65 s, each bound 1.25x the previous one, so a p99
# is known to within 25%, which is finer than any sensible latency ratio threshold.
_BOUNDS = [0.001 * 1.25**i for i in range(50)]
# Seconds between two latency judgements of one route: merging the histograms costs more
# than the error count, which is judged on every new-side answer.
_LATENCY_EVERY = 0.25


@dataclass(slots=True)
class _Bucket:
    second: int = -1
    count: int = 0
    errors: int = 0
    latencies: list[int] = field(default_factory=lambda: [0] * (len(_BOUNDS) + 1))

    def reset(self, second: int) -> None:
        self.second, self.count, self.errors = second, 0, 0
        self.latencies = [0] * (len(_BOUNDS) + 1)


class SideWindow:
    def __init__(self, window: float) -> None:
        self.size = max(1, math.ceil(window))
        self.buckets = [_Bucket() for _ in range(self.size)]

    def add(self, now: float, error: bool, duration: float) -> None:
        second = int(now)
        bucket = self.buckets[second % self.size]
        if bucket.second != second:
            bucket.reset(second)
        bucket.count += 1
        bucket.errors += error
        bucket.latencies[bisect.bisect_left(_BOUNDS, duration)] += 1

    def _live(self, now: float) -> list[_Bucket]:
        oldest = int(now) - self.size + 1
        return [b for b in self.buckets if b.second >= oldest]

    def totals(self, now: float) -> tuple[int, int]:
        live = self._live(now)
        return sum(b.count for b in live), sum(b.errors for b in live)

    def quantile(self, now: float, q: float) -> float | None:
        live = self._live(now)
        counts = [sum(column) for column in zip(*(b.latencies for b in live), strict=True)]
        total = sum(counts)
        if not total:
            return None
        rank = q * total
        seen = 0
        for index, count in enumerate(counts):
            seen += count
            if seen >= rank:
                return _BOUNDS[index] if index < len(_BOUNDS) else math.inf
        return math.inf


@dataclass(frozen=True, slots=True)
class Rollback:
    reason: str  # "error_ratio" or "latency"
    at: float
    detail: str


class Guard:
    def __init__(self, options: GuardOptions, clock: Callable[[], float] = time.monotonic) -> None:
        self.options = options
        self.clock = clock
        self.windows = {side: SideWindow(options.window) for side in SIDE_NAMES}
        self.rollback: Rollback | None = None
        self._judged_at = -math.inf

    def observe(self, side: Side, status: int, duration: float) -> Rollback | None:
        """Count one answer; return a Rollback when this answer makes the route roll back.

        The one place where time moves the guard on: a rollback whose cooldown has passed is
        ended here, by the first answer after it, from a clean window (so the failures that
        caused it are not held against the new side a second time).
        """
        now = self.clock()
        if self.rollback is not None and self._cooled_down(now):
            self.rollback = None
            self.windows = {side: SideWindow(self.options.window) for side in SIDE_NAMES}
        self.windows[side].add(now, status >= 500, duration)
        if not is_new(side) or self.rollback is not None:
            return None
        self.rollback = self.judge(now)
        return self.rollback

    def rolled_back(self) -> bool:
        """Whether the route is rolled back now. A read: it changes nothing."""
        return self.rollback is not None and not self._cooled_down(self.clock())

    def redirected_to(self) -> str | None:
        """While rolled back, the entry's requests go to legacy (gateway.pipeline.entry_state)."""
        return LEGACY if self.rolled_back() else None

    def _cooled_down(self, now: float) -> bool:
        cooldown = self.options.cooldown
        return (
            self.rollback is not None
            and cooldown is not None
            and now - self.rollback.at >= cooldown
        )

    def judge(self, now: float) -> Rollback | None:
        options = self.options
        count, errors = self.windows[NEW].totals(now)
        if count < options.min_requests:
            return None
        ratio = errors / count
        if ratio > options.max_error_ratio:
            detail = f"new side error ratio {ratio:.3f} > {options.max_error_ratio} over {count}"
            return Rollback("error_ratio", now, detail)
        if options.max_latency_ratio is None or now - self._judged_at < _LATENCY_EVERY:
            return None
        self._judged_at = now
        legacy_count, _ = self.windows[LEGACY].totals(now)
        if legacy_count < options.min_requests:
            return None
        new_p99 = self.windows[NEW].quantile(now, 0.99)
        legacy_p99 = self.windows[LEGACY].quantile(now, 0.99)
        if new_p99 is None or legacy_p99 is None:
            return None
        if new_p99 > options.max_latency_ratio * legacy_p99:
            detail = (
                f"new side p99 {new_p99 * 1000:.1f} ms > {options.max_latency_ratio} x legacy "
                f"p99 {legacy_p99 * 1000:.1f} ms"
            )
            return Rollback("latency", now, detail)
        return None

    def figures(self) -> dict[str, float | int | None]:
        """The values judged, for the admin API and metrics."""
        now = self.clock()
        count, errors = self.windows[NEW].totals(now)
        legacy_count, legacy_errors = self.windows[LEGACY].totals(now)
        return {
            "new_requests": count,
            "new_error_ratio": errors / count if count else None,
            "new_p99": self.windows[NEW].quantile(now, 0.99),
            "legacy_requests": legacy_count,
            "legacy_error_ratio": legacy_errors / legacy_count if legacy_count else None,
            "legacy_p99": self.windows[LEGACY].quantile(now, 0.99),
        }


def guard_of(entry: RouteEntry) -> Guard | None:
    """The guard an entry keeps between requests, when it has `guard:`."""
    options = entry.options.guard
    return Guard(options) if options is not None else None


class GuardWatch:
    """The guards' subscription to the outcome bus: each answer counted by its entry's guard."""

    def __init__(self, on_observed: Callable[[EntryState, Rollback | None], None]) -> None:
        self.on_observed = on_observed  # publishes a rollback, or the end of a cooldown

    def __call__(self, exchange: Exchange, side: Side, status: int, duration: float) -> None:
        state = exchange.state
        guard = state.get(Guard) if state is not None else None
        if state is not None and guard is not None:
            self.on_observed(state, guard.observe(side, status, duration))


def describe_guard(state: EntryState | None) -> dict[str, Any] | None:
    """The guard's options, state and figures for the admin API (a read: it changes nothing)."""
    guard = state.get(Guard) if state is not None else None
    if guard is None:
        return None
    rollback = guard.rollback if guard.rolled_back() else None
    return {
        **guard.options.model_dump(),
        "rolled_back": rollback is not None,
        "reason": rollback.reason if rollback else None,
        "detail": rollback.detail if rollback else None,
        "figures": guard.figures(),
    }
