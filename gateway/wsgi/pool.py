"""The worker threads that run WSGI calls: threads reading one queue, stuck ones replaced.

`ThreadPoolExecutor.submit` builds a Future and a work item and takes two locks and a
semaphore (written in Python) for every call; the bridge needs none of that, since each call
reports its own outcome to the event loop. Here a submit is one `SimpleQueue.put`, done in C.
Threads are daemons: a WSGI call stuck for good must not keep the process from exiting.

A Python thread cannot be killed, so a call that hangs keeps its thread until it returns, if
ever. The bridge marks such a thread stuck (`mark_stuck`); the pool then starts another one, so
`size` threads keep serving, as long as no more than `max_stuck` threads are stuck. When a stuck
call returns, its thread goes back to work if the pool is short of threads, and ends otherwise:
the pool never grows beyond `size` serving threads.

`limit` (at most `size`, set by the bridge's concurrency controller) is how many serving
threads take work: the others park until the limit rises. A thread checks between two calls,
with a plain comparison, so a limit at `size` (fixed concurrency) costs nothing. Threads
idle in the queue's `get` would check only after their next call: lowering the limit puts a
`_RECHECK` in the queue for each thread over it, so that the idle ones look again and park.

Work goes to the most recently idle thread first: each idle thread waits on a lock of its own,
kept on a stack, and `submit` hands the work to the top one (the shared queue holds work only
while no thread is idle). A lightly loaded pool then keeps running on the same one or two
threads, whose stacks and caches are warm, instead of waking all of them in turn, as threads
waiting on one queue are woken.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable

_STOP = None


def _RECHECK() -> None:
    """Not work: a thread that takes it looks at the limit again (and parks if over it)."""


class PoolClosed(RuntimeError):
    pass


class _Idle:
    """One idle thread's place on the stack: it waits on `lock` until handed `work`."""

    __slots__ = ("lock", "work")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lock.acquire()
        self.work: Callable[[], object] | None = None


class WorkerPool:
    def __init__(
        self,
        threads: int,
        name: str = "wsgi",
        *,
        max_stuck: int | None = None,
        on_stuck: Callable[[int], object] | None = None,
    ) -> None:
        self.size = threads
        self.name = name
        self.max_stuck = 2 * threads if max_stuck is None else max_stuck
        self.on_stuck = on_stuck  # called with the number of stuck threads when it changes
        self._queue: queue.SimpleQueue[Callable[[], object] | None] = queue.SimpleQueue()
        self._idle: list[_Idle] = []  # a stack: the most recently idle thread on top
        self._lock = threading.Lock()
        self._unparked = threading.Condition(self._lock)
        self.limit = threads
        self._active = 0  # serving threads not parked, nor streaming (see step_aside)
        self._aside: set[threading.Thread] = set()
        self._started = False
        self._closed = False
        self._serving = 0  # threads taking work from the queue
        self._stuck: set[threading.Thread] = set()
        self.lost = 0  # threads stuck beyond the cap, that no new thread replaced
        self._names = itertools.count()

    @property
    def stuck(self) -> int:
        return len(self._stuck)

    @property
    def at_cap(self) -> bool:
        """No further stuck thread would be replaced: the process is losing capacity."""
        return len(self._stuck) >= max(self.max_stuck, 1)

    def submit(self, work: Callable[[], object]) -> None:
        """Run `work()` in a worker thread; `work` must handle its own exceptions."""
        if self._closed:
            raise PoolClosed("the worker pool was shut down")
        if not self._started:
            self._start()
        self._hand(work)

    def _hand(self, work: Callable[[], object] | None) -> None:
        """To the most recently idle thread, else to the queue for the next one free."""
        try:
            idle = self._idle.pop()  # atomic: two submitters never pop the same thread
        except IndexError:
            self._queue.put(work)
            return
        idle.work = work
        idle.lock.release()

    def set_limit(self, limit: int) -> None:
        """Let `limit` threads (1 to `size`) take work; the others park after their call."""
        with self._lock:
            self.limit = max(1, min(limit, self.size))
            if self._active < self.limit:
                self._unparked.notify(self.limit - self._active)
            excess = self._active - self.limit
        for _ in range(excess):
            self._hand(_RECHECK)

    def step_aside(self) -> None:
        """The calling thread's call now waits on its client (it streams): while it does, it
        does not count against the limit, which is about threads that compete for the GIL.
        The same while it waits for more of its request body. Nested calls count once."""
        thread = threading.current_thread()
        with self._lock:
            if thread in self._aside:
                return
            self._aside.add(thread)
            self._active -= 1
            if self._active < self.limit:
                self._unparked.notify()

    def step_back(self) -> None:
        """The streaming call is over: the thread counts again (and parks if over the limit)."""
        thread = threading.current_thread()
        with self._lock:
            if thread not in self._aside:
                return
            self._aside.discard(thread)
            if thread not in self._stuck:  # a stuck thread counts again only if it rejoins
                self._active += 1

    def mark_stuck(self, thread: threading.Thread) -> None:
        """`thread` runs a call that overran: replace it while fewer than `max_stuck` are stuck.

        Called before the call returns (the bridge makes sure of it), so that the thread sees
        the mark once its call is done.
        """
        with self._lock:
            self._stuck.add(thread)
            self._serving -= 1
            if thread not in self._aside:  # a streaming thread was not counted
                self._active -= 1
            if len(self._stuck) <= self.max_stuck and not self._closed:
                self._spawn()
            self._report()

    def shutdown(self) -> None:
        """Let the serving threads finish the calls already queued, then end."""
        with self._lock:
            self._closed = True
            serving = self._serving
            self._unparked.notify_all()  # parked threads go and take their stop
        for _ in range(serving):
            self._hand(_STOP)

    def _start(self) -> None:
        with self._lock:
            if self._started:
                return
            for _ in range(self.size):
                self._spawn()
            self._started = True

    def _spawn(self) -> None:
        """Start one serving thread; the caller holds the lock."""
        thread = threading.Thread(
            target=self._work, name=f"{self.name}-{next(self._names)}", daemon=True
        )
        # Counted before it starts: its first look at the limit must see itself.
        self._serving += 1
        self._active += 1
        thread.start()

    def _work(self) -> None:
        thread = threading.current_thread()
        idle = _Idle()
        handed: list[Callable[[], object] | None] = []  # work handed while it took queued work
        while True:
            if self._active > self.limit:
                self._park()
            work = handed.pop() if handed else self._take(idle, handed)
            if work is None:
                return
            if work is _RECHECK:
                continue
            work()
            if self._stuck and thread in self._stuck and not self._rejoin(thread):
                return

    def _take(
        self, idle: _Idle, handed: list[Callable[[], object] | None]
    ) -> Callable[[], object] | None:
        """The next work: queued work first, else wait on the stack until handed some."""
        try:
            return self._queue.get_nowait()
        except queue.Empty:
            pass
        self._idle.append(idle)
        # Work queued after the look above, by a submitter that found the stack empty.
        try:
            work = self._queue.get_nowait()
        except queue.Empty:
            idle.lock.acquire()
            return idle.work
        try:
            self._idle.remove(idle)
        except ValueError:  # a submitter took this thread off the stack: its work comes too
            idle.lock.acquire()
            handed.append(idle.work)
        return work

    def _park(self) -> None:
        """Wait while more threads take work than the limit allows, unless the pool closes."""
        with self._lock:
            if self._active <= self.limit or self._closed:
                return
            self._active -= 1
            self._unparked.wait_for(lambda: self._active < self.limit or self._closed)
            self._active += 1

    def _rejoin(self, thread: threading.Thread) -> bool:
        """A stuck call returned: serve again if the pool is short of threads, else end."""
        with self._lock:
            self._stuck.discard(thread)
            self._report()
            if self._serving < self.size and not self._closed:
                self._serving += 1
                self._active += 1
                return True
            return False

    def _report(self) -> None:
        """The caller holds the lock."""
        self.lost = max(0, len(self._stuck) - self.max_stuck)
        if self.on_stuck is not None:
            self.on_stuck(len(self._stuck))
