"""The deadlines' clock: one timer for the calls that share a delay, each still on time."""

from __future__ import annotations

import asyncio

from gateway.pipeline.deadline import Deadline, DeadlineClock

DELAY = 0.05


def _timers(loop: asyncio.AbstractEventLoop) -> int:
    scheduled: list[asyncio.TimerHandle] = loop._scheduled  # type: ignore[attr-defined]
    return sum(not handle.cancelled() for handle in scheduled)


def test_calls_sharing_a_delay_share_one_timer_and_each_expires_on_time() -> None:
    clock = DeadlineClock()
    expired: list[int] = []

    async def call(number: int, answers: bool) -> None:
        deadline = Deadline(DELAY, clock)
        try:
            if not answers:
                await asyncio.Event().wait()  # no timer of its own: only the deadline ends it
            await asyncio.sleep(0)
        except asyncio.CancelledError:
            assert deadline.settle()  # the deadline's own cancellation
            expired.append(number)
            return
        deadline.settle()

    async def run() -> int:
        loop = asyncio.get_running_loop()
        before = _timers(loop)
        calls = [asyncio.create_task(call(n, answers=n % 3 != 0)) for n in range(9)]
        await asyncio.sleep(0)  # every call armed its deadline
        timers = _timers(loop) - before
        await asyncio.wait_for(asyncio.gather(*calls), 30)
        return timers

    timers = asyncio.run(run())
    assert timers == 1
    assert sorted(expired) == [0, 3, 6]


def test_a_disarmed_deadline_never_cancels_its_task() -> None:
    clock = DeadlineClock()

    async def run() -> None:
        deadline = Deadline(DELAY, clock)
        deadline.disarm()
        await asyncio.sleep(DELAY * 4)
        task = asyncio.current_task()
        assert task is not None and task.cancelling() == 0
        assert not deadline.settle() and not deadline.expired

    asyncio.run(run())


def test_a_clock_used_on_a_new_loop_arms_a_timer_there() -> None:
    clock = DeadlineClock()

    async def timed_out() -> bool:
        deadline = Deadline(DELAY, clock)
        try:
            await asyncio.sleep(DELAY * 20)
        except asyncio.CancelledError:
            return deadline.settle()
        return False

    assert asyncio.run(timed_out())
    assert asyncio.run(timed_out())
