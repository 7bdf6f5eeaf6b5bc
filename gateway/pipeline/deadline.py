"""The new side's deadline to start its answer: `asyncio.timeout`'s semantics, at less cost.

`asyncio.timeout` builds a context manager, reschedules through the loop and checks its state
on every exit: about 11 µs a request. A deadline here is an entry in its clock's queue: the
calls of one caller that share a delay expire in the order they started, so one timer, armed
for the earliest, serves them all (one `loop.call_at` a delay's worth of time, not a timer
armed and cancelled per call). A deadline is disarmed when the answer starts, and only when
it fires does it cancel the task. As with `asyncio.timeout`, the task's cancellation count
tells a cancellation of ours from one by someone else (a client gone, a server shutting down):
only ours becomes a TimeoutError, and `Task.uncancel` takes it back, so that code above still
sees the task as not cancelled. Calls without a deadline (the legacy side) arm nothing.
"""

from __future__ import annotations

import asyncio
from collections import deque


class Deadline:
    __slots__ = ("delay", "at", "expired", "done", "_task", "_cancelling", "_settled")

    def __init__(self, delay: float, clock: DeadlineClock | None = None) -> None:
        """Arm a deadline `delay` seconds from now for the current task (by its own timer
        unless a `clock` serves it)."""
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a deadline needs a running task")
        self.delay = delay
        self.expired = False
        self.done = False  # expired or disarmed: its clock has nothing more to do with it
        self._settled = False
        self._task: asyncio.Task[object] | None = task
        self._cancelling = task.cancelling()
        loop = asyncio.get_running_loop()
        self.at = loop.time() + delay
        (clock or DeadlineClock()).add(self, loop)

    def expire(self) -> None:
        self.done = self.expired = True
        if self._task is not None:
            self._task.cancel()

    def disarm(self) -> None:
        """The deadline no longer applies (the answer started): it will not fire."""
        if not self.done:
            self.done = True
            self._task = None  # a finished call's task is not kept until its clock passes

    def settle(self) -> bool:
        """On leaving the guarded code: disarm, take back our cancellation if it fired.

        True when the deadline fired and nobody else cancelled the task meanwhile: a
        CancelledError being handled is then ours, to be raised as a TimeoutError. Only the
        first call after expiry can be true; later calls change nothing.
        """
        self.disarm()
        if not self.expired or self._settled or self._task is None:
            return False
        self._settled = True
        return self._task.uncancel() <= self._cancelling


class DeadlineClock:
    """Fires the deadlines armed through it: a queue and one timer per delay."""

    __slots__ = ("_loop", "_queues")

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queues: dict[float, _Queue] = {}

    def add(self, deadline: Deadline, loop: asyncio.AbstractEventLoop) -> None:
        if loop is not self._loop:  # a new loop (tests run several): the old timers are its
            self._loop, self._queues = loop, {}
        queue = self._queues.get(deadline.delay)
        if queue is None:
            queue = self._queues[deadline.delay] = _Queue(loop)
        queue.add(deadline)


class _Queue:
    """Deadlines of one delay, in the order they fall due, with a timer for the first."""

    __slots__ = ("_loop", "_deadlines", "_timer_at")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._deadlines: deque[Deadline] = deque()
        self._timer_at: float | None = None

    def add(self, deadline: Deadline) -> None:
        deadlines = self._deadlines
        # Calls mostly end in the order they started: dropping the ended ones in front keeps
        # the queue about as long as the calls running.
        while deadlines and deadlines[0].done:
            deadlines.popleft()
        deadlines.append(deadline)
        if self._timer_at is None:
            self._arm(deadlines[0].at)

    def _arm(self, at: float) -> None:
        self._timer_at = at
        self._loop.call_at(at, self._fire)

    def _fire(self) -> None:
        due, self._timer_at = self._timer_at, None
        deadlines = self._deadlines
        while deadlines and (deadlines[0].done or (due is not None and deadlines[0].at <= due)):
            deadline = deadlines.popleft()
            if not deadline.done:
                deadline.expire()
        if deadlines:
            self._arm(deadlines[0].at)
