"""What bounds the WSGI bridge (`BridgeLimits`) and what it tells (`BridgeObserver`).

The bridge stays self-contained: it imports nothing above gateway.http, and reports what it
does to one observer, which the gateway implements with its metrics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from gateway.http.body_limits import BodyLimits


@dataclass(frozen=True, slots=True)
class BridgeLimits:
    threads: int = 16  # threads that run the app
    queue_limit: int = 64  # calls that may wait for a thread; more are refused 503
    buffer_limit: int = 1024 * 1024  # a response whole in its first chunk, up to this, in one hop
    timeout: float = 30.0  # a call that moves no data this long: 504, or its response cut
    max_stuck: int | None = None  # stuck threads replaced at most (default: twice threads)
    body_buffer: int = 64 * 1024  # request bodies read on the loop before taking a thread
    body_limits: BodyLimits = field(default_factory=BodyLimits)
    queue_timeout: float | None = None  # a call that waited this long for a thread: 503
    adaptive: bool = False  # how many threads run at once follows the app (GradientLimit)


class BridgeObserver(Protocol):
    def rejected(self) -> None:
        """A call was refused 503: the queue was full."""

    def timed_out(self) -> None:
        """A call moved no data for the timeout: 504, or its response cut."""

    def queue_timed_out(self) -> None:
        """A call waited the queue timeout for a thread: 503, not run."""

    def stuck(self, count: int) -> None:
        """The number of stuck threads changed."""

    def limit(self, limit: int) -> None:
        """How many threads may run calls at once (adaptive: once it settles)."""


class Unobserved:
    """An observer that is told everything and keeps nothing."""

    def rejected(self) -> None:
        pass

    def timed_out(self) -> None:
        pass

    def queue_timed_out(self) -> None:
        pass

    def stuck(self, count: int) -> None:
        pass

    def limit(self, limit: int) -> None:
        pass
