"""The bridge's worker threads."""

from __future__ import annotations

import threading

import pytest

from gateway.wsgi.pool import PoolClosed, WorkerPool


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
