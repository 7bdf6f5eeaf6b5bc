"""The worker threads that run WSGI calls: a fixed set of threads reading one queue.

`ThreadPoolExecutor.submit` builds a Future and a work item and takes two locks and a
semaphore (written in Python) for every call; the bridge needs none of that, since each call
reports its own outcome to the event loop. Here a submit is one `SimpleQueue.put`, done in C.
Threads are daemons: a WSGI call stuck for good must not keep the process from exiting.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

_STOP = None


class PoolClosed(RuntimeError):
    pass


class WorkerPool:
    def __init__(self, threads: int, name: str = "wsgi") -> None:
        self.size = threads
        self.name = name
        self._queue: queue.SimpleQueue[Callable[[], object] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._closed = False
        self._start_lock = threading.Lock()

    def submit(self, work: Callable[[], object]) -> None:
        """Run `work()` in a worker thread; `work` must handle its own exceptions."""
        if self._closed:
            raise PoolClosed("the worker pool was shut down")
        if not self._threads:
            self._start()
        self._queue.put(work)

    def shutdown(self) -> None:
        """Let the threads finish the calls already queued, then end."""
        self._closed = True
        for _ in self._threads:
            self._queue.put(_STOP)

    def _start(self) -> None:
        with self._start_lock:
            if self._threads:
                return
            for index in range(self.size):
                thread = threading.Thread(
                    target=self._work, name=f"{self.name}-{index}", daemon=True
                )
                thread.start()
                self._threads.append(thread)

    def _work(self) -> None:
        while (work := self._queue.get()) is not None:
            work()
