"""Forks of this process wait for a controller's pass to end.

With --workers N the controller is a thread of gunicorn's arbiter, which forks a worker at start
and whenever one is replaced. A fork copies only the thread that forks: a lock another thread
held at that moment stays held in the child, where nobody will ever release it. Python resets
its own (the import lock, logging's), but not those of compiled libraries. pydantic-core's
first serialisation in a process runs a one-time setup under such a lock: a worker forked while
the controller's first pass was dumping the rollout status hung on its own first `model_dump`
(the route table's reload) with its event loop blocked, until the arbiter killed it for not
answering, 30 s later, with the requests on it.

A pass holds its gate; a fork takes every gate first (`os.register_at_fork`), so it happens
between passes, when the controller's thread holds no lock but the wait's.
"""

from __future__ import annotations

import os
import threading
import weakref
from types import TracebackType

_GATES: weakref.WeakSet[ForkGate] = weakref.WeakSet()
_CLOSED: list[ForkGate] = []  # during a fork: the gates it took, to open the same ones after


class ForkGate:
    def __init__(self) -> None:
        # Reentrant: a pass that forked (a subprocess with a preexec_fn) would otherwise wait
        # for itself in the fork's hook.
        self._lock = threading.RLock()
        _GATES.add(self)

    def __enter__(self) -> None:
        self._lock.acquire()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._lock.release()


def _close_all() -> None:
    for gate in list(_GATES):
        gate._lock.acquire()
        _CLOSED.append(gate)


def _open_all() -> None:
    # In the child too: the forking thread, now the child's only one, holds them.
    while _CLOSED:
        _CLOSED.pop()._lock.release()


os.register_at_fork(before=_close_all, after_in_parent=_open_all, after_in_child=_open_all)
