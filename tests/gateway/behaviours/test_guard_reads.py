"""Reading a guard never changes it: only an observed answer moves it on."""

from __future__ import annotations

from gateway.behaviours.guard import Guard, GuardOptions


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_reads_after_the_cooldown_change_nothing_until_an_answer_is_observed() -> None:
    clock = Clock()
    guard = Guard(GuardOptions(min_requests=5, cooldown=30), clock=clock)
    for _ in range(5):
        guard.observe("new", 500, 0.01)
    rollback = guard.rollback
    assert rollback is not None and guard.rolled_back()
    clock.now += 31
    for _ in range(3):  # the admin API and every request read it
        assert not guard.rolled_back()
        assert guard.figures()["new_requests"] == 5
    assert guard.rollback is rollback  # still there: only an observation ends it
    guard.observe("legacy", 200, 0.01)
    assert guard.rollback is None
    assert guard.figures()["new_requests"] == 0  # and the window starts clean
