"""The concurrency controller, driven by synthetic calls on a fake clock.

A model app answers each call in a time that depends on how many run at once: CPU-bound
(each extra running call slows every call down by as much again: one GIL) or I/O-bound (flat).
The driver runs `limit` calls at a time for as long as the model says, then records them, so
the clock advances only with the calls: no real time passes.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable

import pytest

from gateway.wsgi.concurrency import GradientLimit

CALL = 0.0005  # seconds a call takes alone
Model = Callable[[int], float]


def cpu_bound(running: int) -> float:
    return CALL * running


def io_bound(running: int) -> float:
    return 0.02


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def drive(
    limiter: GradientLimit, clock: FakeClock, model: Model, seconds: float, demand: int = 80
) -> list[int]:
    """Run batches of `limit` calls for `seconds` of fake time; the limits seen, batch by batch."""
    seen = []
    end = clock.now + seconds
    while clock.now < end:
        running = limiter.limit
        took = model(running)
        started = clock.now
        clock.now += took
        for _ in range(running):
            limiter.record(started, clock.now, demand)
        seen.append(limiter.limit)
    return seen


def controller(clock: FakeClock, changes: list[int] | None = None) -> GradientLimit:
    on_change = changes.append if changes is not None else None
    return GradientLimit(16, clock=clock, on_change=on_change)


def test_the_limit_starts_at_the_maximum_and_the_first_probe_measures_the_baseline() -> None:
    clock = FakeClock()
    limiter = controller(clock)
    assert (limiter.limit, limiter.baseline) == (16, None)
    seen = drive(limiter, clock, io_bound, 1.5)
    assert 1 in seen  # the probe: one call at a time
    assert limiter.baseline == pytest.approx(0.02)
    assert seen[-1] == 16


def test_cpu_bound_calls_bring_the_limit_down_to_a_few() -> None:
    clock, changes = FakeClock(), list[int]()
    limiter = controller(clock, changes)
    seen = drive(limiter, clock, cpu_bound, 5.0)
    assert seen[0] == 16  # the limit starts at the top...
    assert set(seen[-50:]) <= {2, 3, 4}  # ...and settles where calls slow down < 2.5x
    assert changes[:4] == [1, 16, 8, 4]  # the probe, then halved at most per window


def test_io_bound_calls_keep_the_limit_at_the_maximum() -> None:
    clock = FakeClock()
    limiter = controller(clock)
    seen = drive(limiter, clock, io_bound, 9.0)
    assert set(seen[-200:]) == {16}


def test_noise_in_io_bound_calls_does_not_shrink_the_limit() -> None:
    clock, noise = FakeClock(), random.Random(7)
    limiter = controller(clock)
    seen = drive(limiter, clock, lambda running: 0.02 * noise.uniform(0.8, 1.25), 9.0)
    assert set(seen[-200:]) == {16}


def test_the_limit_grows_only_while_calls_wait_for_a_thread() -> None:
    clock = FakeClock()
    limiter = controller(clock)
    drive(limiter, clock, cpu_bound, 5.0)
    drive(limiter, clock, lambda running: CALL, 0.2, demand=1)  # the last busy window ends
    low = limiter.estimate
    assert low < 8
    seen = drive(limiter, clock, lambda running: CALL, 3.0, demand=1)  # flat, nobody waits
    assert limiter.estimate == low
    assert set(seen) == {int(low)}


def test_a_probe_ignores_calls_that_began_before_it() -> None:
    clock = FakeClock()
    limiter = GradientLimit(16, clock=clock, min_samples=2, probe_samples=2, first_probe=0.0)
    limiter.record(-1.0, 0.1, demand=1)
    limiter.record(-1.0, 0.2, demand=1)  # a window closes and the probe starts, at 0.2
    assert limiter.limit == 1
    limiter.record(0.1, 0.3, demand=1)  # began before the probe, at a higher concurrency
    limiter.record(0.2, 0.4, demand=1)
    assert limiter.baseline is None  # one sample of the probe so far
    limiter.record(0.3, 0.5, demand=1)
    assert limiter.baseline == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("low", "high"),
    [pytest.param(0, 4, id="zero"), pytest.param(5, 4, id="above-max")],
)
def test_bounds_must_make_sense(low: int, high: int) -> None:
    with pytest.raises(ValueError, match="min_limit"):
        GradientLimit(high, min_limit=low)


def test_calls_that_finish_no_window_let_the_limit_grow_when_others_wait() -> None:
    clock, changes = FakeClock(), list[int]()
    limiter = controller(clock, changes)
    drive(limiter, clock, cpu_bound, 5.0)
    low = limiter.limit
    limiter.stalled(clock.now + limiter.stall_after / 2)  # a window closed just now: no change
    assert limiter.limit == low
    grown = []
    for step in range(1, 20):  # every call blocks; queued ones keep reporting their wait
        limiter.stalled(clock.now + step * limiter.stall_after)
        grown.append(limiter.limit)
    assert grown[-1] == 16
    assert grown == sorted(grown)
    assert changes[-1] == 16


def test_a_stalled_probe_is_abandoned() -> None:
    clock = FakeClock()
    limiter = controller(clock)
    while limiter.limit != 1:  # up to the first probe
        drive(limiter, clock, io_bound, 0.02)
    # One call at a time, and now that call blocks: no window closes.
    limiter.stalled(clock.now + limiter.stall_after)
    assert limiter.limit == 16
    assert limiter.baseline is None


def test_calls_turning_to_io_raise_the_limit_before_the_next_probe() -> None:
    clock = FakeClock()
    limiter = controller(clock)
    drive(limiter, clock, cpu_bound, 3.0)
    assert limiter.limit <= 4
    seen = drive(limiter, clock, io_bound, 2.0)  # well before the next probe (at 31 s)
    assert seen[-1] == 16
    assert limiter.baseline == pytest.approx(0.02)


def test_one_slow_call_in_the_probe_does_not_hold_cpu_bound_calls_at_the_maximum() -> None:
    clock = FakeClock()
    limiter = controller(clock)
    while limiter.limit != 1:  # up to the first probe
        drive(limiter, clock, cpu_bound, 0.01)
    started = clock.now
    clock.now += 0.5  # one call of the probe is slow (a cold cache, a lock), the others not
    limiter.record(started, clock.now, demand=80)
    seen = drive(limiter, clock, cpu_bound, 5.0)  # well before the next probe
    assert limiter.baseline == pytest.approx(CALL)
    assert set(seen[-50:]) <= {2, 3, 4}


def drive_queued(
    limiter: GradientLimit, clock: FakeClock, model: Model, seconds: float
) -> list[int]:
    """As `drive`, with calls always waiting for a thread: as the bridge does for them, one
    reports it (`stalled`) every 0.1 s while a batch runs."""
    seen = []
    end = clock.now + seconds
    while clock.now < end:
        running = limiter.limit
        started = clock.now
        finished = started + model(running)
        while clock.now + 0.1 < finished:
            clock.now += 0.1
            limiter.stalled(clock.now)
        clock.now = finished
        for _ in range(running):
            limiter.record(started, finished, 80)
        seen.append(limiter.limit)
    return seen


@pytest.mark.parametrize("alone", [CALL, 0.02, 0.1, 0.3], ids=lambda s: f"{s * 1000:g}ms")
def test_slow_cpu_bound_calls_also_bring_the_limit_down(alone: float) -> None:
    # Calls that finish, however slowly, are no stall: only calls that all block are.
    clock = FakeClock()
    limiter = controller(clock)
    seen = drive_queued(limiter, clock, lambda running: alone * running, 60.0)
    assert limiter.baseline == pytest.approx(alone)
    assert set(seen[-5:]) <= {1, 2, 3, 4}  # 1: a probe
    assert limiter.settled in {2, 3, 4}


def test_calls_that_all_block_still_count_as_stalled_after_slow_ones() -> None:
    clock = FakeClock()
    limiter = controller(clock)
    drive_queued(limiter, clock, lambda running: 0.1 * running, 25.0)
    low = limiter.limit
    for step in range(1, 40):  # now every running call blocks, and queued ones report it
        limiter.stalled(clock.now + step * 0.5)
    assert low <= 4 and limiter.limit == 16


def test_concurrent_changes_reach_the_pool_in_the_order_they_were_made() -> None:
    # A worker thread's record and the loop's stalled may change the limit at once: the last
    # value handed on must be the limit in force, not the one computed first.
    applied: list[int] = []
    first_handed, second_handed = threading.Event(), threading.Event()

    def on_change(limit: int) -> None:
        if not first_handed.is_set():
            first_handed.set()
            second_handed.wait(0.5)  # give the other change every chance to overtake this one
        else:
            second_handed.set()
        applied.append(limit)

    clock = FakeClock()
    limiter = GradientLimit(16, clock=clock, on_change=on_change, first_probe=100.0)
    limiter.estimate, limiter.limit = 4.0, 4  # as after CPU-bound calls
    first = threading.Thread(target=limiter.stalled, args=(1.0,))  # 4 -> 6

    def second_stall() -> None:
        first_handed.wait(5)
        limiter.stalled(2.0)  # 6 -> 8

    second = threading.Thread(target=second_stall)
    second.start()
    first.start()
    first.join(5)
    second.join(5)
    assert applied == [6, 8]
    assert limiter.limit == 8
