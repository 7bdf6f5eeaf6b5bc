from __future__ import annotations

import pytest

from gateway.behaviours.guard import Guard, GuardOptions


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def feed(
    guard: Guard, clock: Clock, side: str, count: int, status: int, duration: float
) -> list[str]:
    reasons = []
    for _ in range(count):
        clock.now += 0.3  # past the guard's judging interval each time
        rollback = guard.observe(side, status, duration)  # type: ignore[arg-type]
        if rollback is not None:
            reasons.append(rollback.reason)
    return reasons


def make(clock: Clock, **options: object) -> Guard:
    settings = {"window": 60, "min_requests": 20, "max_error_ratio": 0.1, **options}
    return Guard(GuardOptions.model_validate(settings), clock=clock)


def test_error_ratio_rolls_back_once_enough_requests_are_seen() -> None:
    clock = Clock()
    guard = make(clock)
    assert feed(guard, clock, "new", 19, 500, 0.01) == []  # below min_requests: never decides
    assert not guard.rolled_back()
    assert feed(guard, clock, "new", 1, 500, 0.01) == ["error_ratio"]
    assert guard.rolled_back()
    assert guard.rollback is not None and "error ratio 1.000 > 0.1" in guard.rollback.detail


def test_healthy_new_side_stays() -> None:
    clock = Clock()
    guard = make(clock)
    assert feed(guard, clock, "new", 95, 200, 0.01) == []
    assert feed(guard, clock, "new", 5, 503, 0.01) == []  # 5% < 10%
    assert not guard.rolled_back()


def test_old_failures_leave_the_window() -> None:
    clock = Clock()
    guard = make(clock, window=10)
    feed(guard, clock, "new", 10, 500, 0.01)
    clock.now += 11
    assert feed(guard, clock, "new", 30, 200, 0.01) == []


def test_latency_regression_against_legacy_on_the_same_route() -> None:
    clock = Clock()
    guard = make(clock, max_latency_ratio=3)
    feed(guard, clock, "legacy", 30, 200, 0.010)
    assert feed(guard, clock, "new", 19, 200, 0.100) == []
    assert feed(guard, clock, "new", 1, 200, 0.100) == ["latency"]
    assert guard.rollback is not None and "x legacy p99" in guard.rollback.detail


def test_latency_is_not_judged_without_enough_legacy_traffic() -> None:
    clock = Clock()
    guard = make(clock, max_latency_ratio=3)
    feed(guard, clock, "legacy", 5, 200, 0.010)
    assert feed(guard, clock, "new", 50, 200, 0.100) == []


def test_a_rollback_stays_until_the_cooldown_then_starts_clean() -> None:
    clock = Clock()
    guard = make(clock, cooldown=30)
    assert feed(guard, clock, "new", 20, 500, 0.01) == ["error_ratio"]
    clock.now += 29
    assert guard.rolled_back()
    clock.now += 2
    assert not guard.rolled_back()
    assert feed(guard, clock, "new", 10, 200, 0.01) == []  # the old failures were forgotten


def test_without_cooldown_a_rollback_stays() -> None:
    clock = Clock()
    guard = make(clock)
    feed(guard, clock, "new", 20, 500, 0.01)
    clock.now += 10_000
    assert guard.rolled_back()


def test_figures() -> None:
    clock = Clock()
    guard = make(clock)
    feed(guard, clock, "new", 4, 200, 0.01)
    feed(guard, clock, "new", 1, 500, 0.01)
    figures = guard.figures()
    assert figures["new_requests"] == 5
    assert figures["new_error_ratio"] == pytest.approx(0.2)
    assert figures["legacy_requests"] == 0 and figures["legacy_p99"] is None
