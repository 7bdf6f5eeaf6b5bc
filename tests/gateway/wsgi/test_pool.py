"""The bridge's worker threads."""

from __future__ import annotations

import threading

import pytest

from gateway.wsgi.pool import PoolClosed, WorkerPool
from tests.waiting import wait_for


def test_work_runs_in_the_pool_threads() -> None:
    pool = WorkerPool(3, name="test-pool")
    names: list[str] = []
    done = threading.Barrier(4, timeout=5)

    def work() -> None:
        names.append(threading.current_thread().name)
        done.wait()  # all three at once: the pool really has three threads

    for _ in range(3):
        pool.submit(work)
    done.wait()
    assert sorted(names) == ["test-pool-0", "test-pool-1", "test-pool-2"]
    pool.shutdown()


def test_a_shut_down_pool_refuses_work() -> None:
    pool = WorkerPool(1)
    ran = threading.Event()
    pool.submit(ran.set)
    pool.shutdown()
    assert ran.wait(5)
    with pytest.raises(PoolClosed):
        pool.submit(ran.set)


def pool_threads(name: str) -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith(name + "-")]


class Hang:
    """Work that blocks its thread until released, and says which thread it holds."""

    def __init__(self) -> None:
        self.running = threading.Event()
        self.release = threading.Event()
        self.thread: threading.Thread | None = None

    def __call__(self) -> None:
        self.thread = threading.current_thread()
        self.running.set()
        self.release.wait(timeout=30)

    def held(self) -> threading.Thread:
        assert self.running.wait(5)
        assert self.thread is not None
        return self.thread


def test_a_stuck_thread_is_replaced_and_retires_when_its_call_returns() -> None:
    reported: list[int] = []
    pool = WorkerPool(1, name="replaced", on_stuck=reported.append)
    hang = Hang()
    pool.submit(hang)
    pool.mark_stuck(hang.held())
    served = threading.Event()
    pool.submit(served.set)  # the only thread hangs: a new one serves
    assert served.wait(5)
    assert (pool.stuck, pool.at_cap, len(pool_threads("replaced"))) == (1, False, 2)
    hang.release.set()
    # Its call returned: the pool has its one serving thread already, so this one ends.
    wait_for(lambda: len(pool_threads("replaced")) == 1)
    assert reported == [1, 0]
    assert pool.stuck == 0
    pool.shutdown()
    wait_for(lambda: not pool_threads("replaced"))


def test_beyond_the_cap_stuck_threads_are_not_replaced_and_rejoin_on_return() -> None:
    pool = WorkerPool(2, name="capped", max_stuck=1)
    first, second = Hang(), Hang()
    pool.submit(first)
    pool.submit(second)
    pool.mark_stuck(first.held())
    assert (pool.stuck, pool.lost, pool.at_cap) == (1, 0, True)
    pool.mark_stuck(second.held())
    assert (pool.stuck, pool.lost) == (2, 1)
    assert len(pool_threads("capped")) == 3  # two stuck, one replacement
    second.release.set()
    wait_for(lambda: pool.stuck == 1)
    # The pool was short of a thread: the returning one serves again.
    both = threading.Barrier(3, timeout=5)
    pool.submit(both.wait)
    pool.submit(both.wait)
    both.wait()
    assert (pool.lost, len(pool_threads("capped"))) == (0, 3)
    first.release.set()
    wait_for(lambda: len(pool_threads("capped")) == 2)
    pool.shutdown()
    wait_for(lambda: not pool_threads("capped"))


def test_a_stuck_thread_returning_after_shutdown_ends() -> None:
    pool = WorkerPool(1, name="closing")
    hang = Hang()
    pool.submit(hang)
    pool.mark_stuck(hang.held())
    pool.shutdown()
    hang.release.set()
    wait_for(lambda: not pool_threads("closing"))
    assert pool.stuck == 0


def test_threads_beyond_the_limit_park_until_it_rises() -> None:
    pool = WorkerPool(3, name="limited")
    pool.set_limit(1)
    first, second = Hang(), Hang()
    pool.submit(first)
    pool.submit(second)
    first.held()
    assert not second.running.wait(0.2)  # the other threads parked: the second call waits
    pool.set_limit(2)
    second.held()
    assert pool.limit == 2
    pool.set_limit(99)
    assert pool.limit == 3  # never beyond the pool's size
    first.release.set()
    second.release.set()
    pool.shutdown()
    wait_for(lambda: not pool_threads("limited"))


def test_a_streaming_call_steps_aside_from_the_limit_even_when_it_gets_stuck() -> None:
    pool = WorkerPool(3, name="aside")
    pool.set_limit(1)
    stream = Hang()

    def streaming() -> None:
        pool.step_aside()  # what the bridge does once a response streams
        try:
            stream()
        finally:
            pool.step_back()

    pool.submit(streaming)
    served = threading.Event()
    pool.submit(served.set)
    assert served.wait(5)  # the stream does not count: another thread took the call
    pool.mark_stuck(stream.held())
    stream.release.set()
    wait_for(lambda: pool.stuck == 0)
    # The counts stayed right: one call at a time, as the limit says, and never none.
    first, second = Hang(), Hang()
    pool.submit(first)
    pool.submit(second)
    first.held()
    assert not second.running.wait(0.2)
    first.release.set()
    second.held()
    second.release.set()
    pool.shutdown()
    wait_for(lambda: not pool_threads("aside"))


def test_a_lowered_limit_holds_for_threads_already_waiting_for_work() -> None:
    # Idle threads wait for work in the queue: lowering the limit must reach them too, not
    # only threads that finish a call (a probe at concurrency 1 would otherwise run several).
    pool = WorkerPool(4, name="idle")
    warmed = threading.Event()
    pool.submit(warmed.set)  # starts the threads; all four then wait for work
    assert warmed.wait(5)
    pool.set_limit(1)
    calls = [Hang() for _ in range(4)]
    for call in calls:
        pool.submit(call)
    calls[0].held()
    assert not any(call.running.wait(0.2) for call in calls[1:])
    for call in calls:
        call.release.set()
        call.held()  # each in turn, one at a time
    pool.shutdown()
    wait_for(lambda: not pool_threads("idle"))


def test_work_goes_to_the_most_recently_idle_thread() -> None:
    pool = WorkerPool(4)
    names: list[str] = []
    try:
        for _ in range(20):
            done = threading.Event()

            def work(done: threading.Event = done) -> None:
                names.append(threading.current_thread().name)
                done.set()

            pool.submit(work)
            assert done.wait(30)
            wait_for(lambda: len(pool._idle) == 4, what="every thread idle again")
    finally:
        pool.shutdown()
    assert len(set(names)) == 1  # not a turn for each of the four


def test_work_submitted_while_every_thread_is_busy_is_queued_and_run() -> None:
    pool = WorkerPool(2)
    release = threading.Event()
    ran: list[int] = []
    try:
        for _ in range(2):
            pool.submit(lambda: release.wait(30))
        for n in range(50):
            pool.submit(lambda n=n: ran.append(n))  # type: ignore[misc]
        release.set()
        wait_for(lambda: len(ran) == 50, what="the queued work run")
    finally:
        pool.shutdown()
    assert sorted(ran) == list(range(50))
