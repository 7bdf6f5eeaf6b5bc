"""Automatic rollback: a route served by the new side goes back to legacy when the new side
fails or slows down, judged over a sliding window.

Each guarded route keeps, per side, one-second buckets of request counts, 5xx counts and a
latency histogram, so judging costs the same at 10 or 10,000 requests a second.

Noise must not decide (a loaded host stalls one request now and then; a few 5xx happen):
- errors are judged once the window holds `min_requests` new-side answers and `min_errors`
  5xx among them, and then on their share (`max_error_ratio`);
- latency is judged once each side has `min_latency_samples` answers in the window, on a
  quantile both sides have enough answers for: `latency_quantile` (p99) from 1,000 answers,
  below that the one that leaves 10 answers above it (p90 at 100), read by interpolating inside
  the histogram's bucket (never its upper edge); the new side must exceed legacy's both by
  `max_latency_ratio` and by `min_latency_increase_ms`.
Low traffic never triggers a rollback, and never clears one either. A rollback lasts until the
route's entry changes in the routes file (`gateway rollout clear` writes `guard.cleared`), or
for `cooldown` seconds when that is set.

Every worker process judges its own traffic: no state is shared between workers or replicas, so
with N workers each sees about 1/N of the route's requests (set the minimums accordingly).
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

__all__ = [
    "Guard",
    "GuardOptions",
    "GuardWatch",
    "Rollback",
    "describe_guard",
    "guard_of",
    "judged_quantile",
]


# Latency histogram bounds: 1 ms to about 65 s, each bound 1.25x the previous one; a quantile
# is interpolated inside its bucket, so it is known to within a few percent.
_BOUNDS: list[float] = [0.001 * 1.25**i for i in range(50)]
# Seconds between two latency judgements of one route: merging the histograms costs more
# than the error count, which is judged on every new-side answer.
_LATENCY_EVERY = 0.25
# A quantile is judged only where this many answers lie above it on each side: the p99 of
# 20 answers is their maximum, one stalled request; the p90 of 100 is the 10th slowest.
TAIL = 10


def judged_quantile(wanted: float, answers: float) -> float:
    """The quantile judged on `answers` answers: `wanted`, or a lower one that leaves TAIL
    answers above it."""
    if answers <= 0:
        return wanted
    return min(wanted, 1 - TAIL / answers)


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
        """The q-quantile of the window's latencies, interpolated inside its bucket (as
        Prometheus' histogram_quantile): the upper edge would overstate it by up to 25%."""
        live = self._live(now)
        counts: list[int] = [
            sum(column) for column in zip(*(b.latencies for b in live), strict=True)
        ]
        total = sum(counts)
        if not total:
            return None
        rank = q * total
        seen = 0
        for index, count in enumerate(counts):
            if count and seen + count >= rank:
                if index >= len(_BOUNDS):
                    return _BOUNDS[-1]  # past the last bound: the highest known
                lower = _BOUNDS[index - 1] if index else 0.0
                return lower + (_BOUNDS[index] - lower) * (rank - seen) / count
            seen += count
        return _BOUNDS[-1]


@dataclass(frozen=True, slots=True)
class Rollback:
    reason: str  # "error_ratio" or "latency"
    at: float  # the guard's clock (monotonic)
    detail: str
    figures: dict[str, float | int | None] = field(default_factory=dict)
    wall: float = 0.0  # Unix time, for people


class Guard:
    def __init__(
        self,
        options: GuardOptions,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.options = options
        self.clock = clock
        self.wall = wall
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
        if errors >= options.min_errors and ratio > options.max_error_ratio:
            detail = (
                f"new side: {errors} 5xx in {count} answers ({ratio:.1%} > "
                f"{options.max_error_ratio:.1%}) over {options.window:g} s"
            )
            return self._rollback("error_ratio", now, detail)
        if options.max_latency_ratio is None or now - self._judged_at < _LATENCY_EVERY:
            return None
        self._judged_at = now
        return self._judge_latency(now, options.max_latency_ratio)

    def _judge_latency(self, now: float, max_ratio: float) -> Rollback | None:
        options = self.options
        count = self.windows[NEW].totals(now)[0]
        legacy_count = self.windows[LEGACY].totals(now)[0]
        fewest = min(count, legacy_count)
        if fewest < options.min_latency_samples:
            return None
        q = judged_quantile(options.latency_quantile, fewest)
        new = self.windows[NEW].quantile(now, q)
        legacy = self.windows[LEGACY].quantile(now, q)
        if new is None or legacy is None:
            return None
        floor = options.min_latency_increase_ms / 1000
        if new > max_ratio * legacy and new - legacy > floor:
            name = _quantile_name(q)
            detail = (
                f"new side {name} {new * 1000:.1f} ms > {max_ratio:g} x legacy {name} "
                f"{legacy * 1000:.1f} ms and more than {options.min_latency_increase_ms:g} ms "
                f"above it ({count} new, {legacy_count} legacy answers over "
                f"{options.window:g} s)"
            )
            return self._rollback("latency", now, detail)
        return None

    def _rollback(self, reason: str, now: float, detail: str) -> Rollback:
        return Rollback(reason, now, detail, self.figures(now), self.wall())

    def figures(self, now: float | None = None) -> dict[str, float | int | None]:
        """The values judged, for the admin API and the rollback's record."""
        now = self.clock() if now is None else now
        new, legacy = self.windows[NEW], self.windows[LEGACY]
        count, errors = new.totals(now)
        legacy_count, legacy_errors = legacy.totals(now)
        q = judged_quantile(self.options.latency_quantile, min(count, legacy_count))
        return {
            "new_requests": count,
            "new_errors": errors,
            "new_error_ratio": errors / count if count else None,
            "legacy_requests": legacy_count,
            "legacy_errors": legacy_errors,
            "legacy_error_ratio": legacy_errors / legacy_count if legacy_count else None,
            "quantile": q,
            "new_latency": new.quantile(now, q),
            "legacy_latency": legacy.quantile(now, q),
        }


def _quantile_name(q: float) -> str:
    return f"p{q * 100:.3g}"


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


def how_to_clear(entry: RouteEntry, guard: Guard) -> str:
    """What ends a rollback of this entry, as the admin API, the dashboard and the CLI say it."""
    method = f" --method {sorted(entry.methods)[0]}" if entry.methods else ""
    said = (
        f"gateway rollout clear {entry.path}{method}; or the dashboard's Clear button; "
        "or any edit of the entry"
    )
    if entry.options.rollout is not None:
        said += "; once the rollout controller has aborted it: gateway rollout resume"
    cooldown = guard.options.cooldown
    if cooldown is not None:
        return f"tried again {cooldown:g} s after the rollback; sooner: {said}"
    return f"lasts until cleared: {said}"


def describe_guard(state: EntryState | None) -> dict[str, Any] | None:
    """The guard's options, state and figures for the admin API (a read: it changes nothing)."""
    guard = state.get(Guard) if state is not None else None
    if guard is None or state is None:
        return None
    rollback = guard.rollback if guard.rolled_back() else None
    described: dict[str, Any] = {
        **guard.options.model_dump(mode="json"),
        "rolled_back": rollback is not None,
        "reason": rollback.reason if rollback else None,
        "detail": rollback.detail if rollback else None,
        "figures": guard.figures(),
    }
    if rollback is not None:
        described["rollback"] = {
            "reason": rollback.reason,
            "detail": rollback.detail,
            "at": rollback.wall,
            "figures": rollback.figures,
            "clear": how_to_clear(state.entry, guard),
        }
    return described
