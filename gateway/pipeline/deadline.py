"""The new side's deadline to start its answer: `asyncio.timeout`'s semantics, at less cost.

`asyncio.timeout` builds a context manager, reschedules through the loop and checks its state
on every exit: about 11 µs a request. A deadline here is one timer handle: armed with
`loop.call_later`, disarmed when the answer starts (the loop drops a cancelled handle), and only
when it fires does it cancel the task. As with `asyncio.timeout`, the task's cancellation count
tells a cancellation of ours from one by someone else (a client gone, a server shutting down):
only ours becomes a TimeoutError, and `Task.uncancel` takes it back, so that code above still
sees the task as not cancelled. Calls without a deadline (the legacy side) arm nothing.
"""

from __future__ import annotations

import asyncio


class Deadline:
    __slots__ = ("delay", "expired", "_task", "_cancelling", "_handle", "_settled")

    def __init__(self, delay: float) -> None:
        """Arm a deadline `delay` seconds from now for the current task."""
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a deadline needs a running task")
        self.delay = delay
        self.expired = False
        self._settled = False
        self._task = task
        self._cancelling = task.cancelling()
        loop = asyncio.get_running_loop()
        self._handle: asyncio.TimerHandle | None = loop.call_later(delay, self._expire)

    def _expire(self) -> None:
        self._handle = None
        self.expired = True
        self._task.cancel()

    def disarm(self) -> None:
        """The deadline no longer applies (the answer started): it will not fire."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def settle(self) -> bool:
        """On leaving the guarded code: disarm, take back our cancellation if it fired.

        True when the deadline fired and nobody else cancelled the task meanwhile: a
        CancelledError being handled is then ours, to be raised as a TimeoutError. Only the
        first call after expiry can be true; later calls change nothing.
        """
        self.disarm()
        if not self.expired or self._settled:
            return False
        self._settled = True
        return self._task.uncancel() <= self._cancelling
