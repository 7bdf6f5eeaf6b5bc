"""One controller at a time: only the holder of the lock decides and writes.

A file lock on one host; a Kubernetes Lease across replicas.
"""

from __future__ import annotations

from typing import Protocol


class LeaderLock(Protocol):
    @property
    def holder(self) -> str:
        """This controller's identity, as written in the lock (host and pid, or pod name)."""
        ...

    def acquire(self) -> bool:
        """Take the lock, or renew it if already held; never blocks.

        False while another controller holds it (and, for a lease, has renewed it in time).
        Called before every pass, so a controller that stops renewing loses it."""
        ...

    def release(self) -> None: ...
