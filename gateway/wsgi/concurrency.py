"""`GradientLimit`: how many WSGI calls may run at once, adjusted to how the app behaves.

Python threads share one GIL. When the legacy app's calls are CPU-bound, a second thread adds
no throughput: by Little's law the mean time a call takes grows in step with the number
running (L = throughput x mean service time, and the throughput is capped by the one core
the GIL lets run), and every extra thread adds GIL hand-overs, also with the event loop,
which then answers late. When calls wait on I/O (a database, another service), the time a
call takes stays flat as more run, and more threads mean more throughput.

The controller follows Envoy's adaptive concurrency filter (gradient controller) and Netflix's
concurrency-limits (gradient2): calls are timed in windows (`window` seconds and at least
`min_samples` calls); each window's mean is compared with a baseline, the mean measured at
concurrency 1:

    gradient = clamp(tolerance * baseline / window mean, 0.5, 1)
    gradient < 1 (calls got slower):           estimate *= gradient
    gradient = 1 and demand reached the limit: estimate += sqrt(estimate)   (headroom)

so a limit shrinks quickly while extra concurrency only slows calls down, and grows while it
costs nothing and calls are waiting for a thread.

The baseline is re-measured every `probe_interval` seconds (Envoy's minRTT recalculation),
the first time `first_probe` seconds after start (until then the limit stays at its maximum,
the configured thread count): one window at concurrency 1, timing only the calls that
started in it, and ending as soon as it has `probe_samples` of them (calls queue meanwhile,
so the probe is short and rare). Between probes, a faster window lowers the baseline, and a
window run at the lowest limit that is much slower replaces it: the app's calls changed, and
a CPU-bound baseline must not hold I/O-bound calls at one thread until the next probe.

The mean, not a percentile: a CPU-bound call that loses the GIL waits for every other running
thread's turn, which a median does not see and the mean does. The probe is the exception: its
calls run one at a time, so none waits for another, and its baseline is their median. One slow
call among its few samples (a cold cache, a lock) would otherwise make a baseline so high that
calls at the maximum look fast next to it, and hold CPU-bound calls there until the next probe.

Calls that block for long (a slow backend, a long poll) finish no window: while none closes,
the samples say nothing. The bridge reports a call that has waited long for a thread
(`stalled`); if no call finished for `stall_after` seconds (or for twice the mean of the
last window but a probe's, if longer), a probe is abandoned and the limit grows, as it would
for flat latency: a limit of one must not keep a blocked app blocked. Calls that do finish,
however slowly, are no stall: CPU-bound calls of 100 ms take a second at ten threads, and a
window of ten of them, or a probe of three, would otherwise never close before the waiting
calls grew the limit again. At the maximum there is nothing to grow: the window stays.

Only what the app's own call costs is sampled (the bridge's choice): a call that waited on its
client (a streamed request body or response) or timed out (its thread is stuck) is left out.
"""

from __future__ import annotations

import math
import statistics
import threading
import time
from collections.abc import Callable

MIN_GRADIENT = 0.5


class GradientLimit:
    def __init__(
        self,
        max_limit: int,
        *,
        min_limit: int = 1,
        window: float = 0.1,
        min_samples: int = 10,
        tolerance: float = 2.5,
        probe_interval: float = 30.0,
        probe_samples: int = 3,
        first_probe: float = 1.0,
        stall_after: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[int], object] | None = None,
    ) -> None:
        if not 1 <= min_limit <= max_limit:
            raise ValueError(f"need 1 <= min_limit <= max_limit, got {min_limit}, {max_limit}")
        self.max_limit = max_limit
        self.min_limit = min_limit
        self.window = window
        self.min_samples = min_samples
        self.tolerance = tolerance
        self.probe_interval = probe_interval
        self.probe_samples = probe_samples
        self.stall_after = stall_after
        self.clock = clock
        self.on_change = on_change
        self.estimate = float(max_limit)  # where the limit goes back to after a probe
        self.baseline: float | None = None  # mean seconds per call at concurrency 1
        self.sampled = 0  # calls timed since the start
        self._lock = threading.Lock()
        self._total = 0.0
        self._count = 0
        self._demand = 0  # the most calls admitted (running or waiting) seen in this window
        self._probe_times: list[float] = []  # each probe call's duration
        self._probing = False
        self._window_start = clock()
        self._last_finish = self._window_start  # when the last call recorded finished
        self._last_mean = 0.0  # the last window's mean
        self._probe_due = self._window_start + first_probe
        self.limit = max_limit  # threads allowed to run calls

    @property
    def settled(self) -> int:
        """The limit outside probes: what the gateway reports (a probe is a 0.1 s dip)."""
        return max(self.min_limit, int(self.estimate))

    def record(self, started: float, finished: float, demand: int) -> None:
        """A call ran from `started` to `finished` (clock readings); `demand`: calls admitted."""
        with self._lock:
            self._last_finish = max(self._last_finish, finished)
            if self._probing and started < self._window_start:
                return  # began before the probe, at a higher concurrency
            self._total += finished - started
            self._count += 1
            if self._probing:
                self._probe_times.append(finished - started)
            self.sampled += 1
            self._demand = max(self._demand, demand)
            wanted = self.probe_samples if self._probing else self.min_samples
            if self._count < wanted or finished - self._window_start < self.window:
                return
            before = self.limit
            self._close_window(finished)
            self._changed(before)

    def stalled(self, now: float) -> None:
        """A call waited long for a thread: grow if no call finished for a while."""
        with self._lock:
            if not self._probing and self.limit >= self.max_limit:
                return  # nothing to grow: the window and its samples stay
            quiet = now - max(self._window_start, self._last_finish)
            if quiet < max(self.stall_after, 2 * self._last_mean):
                return
            self._probing = False
            self.estimate = max(self.estimate, float(self.limit))
            self.estimate = min(float(self.max_limit), self.estimate + math.sqrt(self.estimate))
            self._total, self._count, self._demand = 0.0, 0, 0
            self._window_start = now
            before, self.limit = self.limit, int(self.estimate)
            self._changed(before)

    def _changed(self, before: int) -> None:
        """Under the lock, so that two changes made at once (a worker thread's record, the
        loop's stalled) reach the pool in the order they were made: the last is in force."""
        if self.limit != before and self.on_change is not None:
            self.on_change(self.limit)

    def _close_window(self, now: float) -> None:
        mean = self._total / self._count
        if not self._probing:  # a probe's calls, one at a time, are faster than the limit's
            self._last_mean = mean
        if self._probing:
            self._probing = False
            self.baseline = statistics.median(self._probe_times)
        elif self.baseline is not None and self._stale(mean):
            self.baseline = mean
        elif self.baseline is not None:
            self.baseline = min(self.baseline, mean)
            self._adjust(mean)
        self._total, self._count, self._demand = 0.0, 0, 0
        self._window_start = now
        if now >= self._probe_due:
            self._start_probe(now)
        else:
            self.limit = self.settled

    def _stale(self, mean: float) -> bool:
        """Calls got slower while running one at a time: concurrency is not the cause, the app
        changed (other endpoints, a slower backend), and the window measured a new baseline."""
        assert self.baseline is not None
        return self.limit == self.min_limit and mean > self.tolerance * self.baseline

    def _adjust(self, mean: float) -> None:
        assert self.baseline is not None  # set by the first window, a probe
        gradient = min(1.0, max(MIN_GRADIENT, self.tolerance * self.baseline / mean))
        if gradient < 1.0:
            self.estimate *= gradient
        elif self._demand > self.limit:  # calls were waiting for a thread
            self.estimate += math.sqrt(self.estimate)
        self.estimate = min(float(self.max_limit), max(float(self.min_limit), self.estimate))

    def _start_probe(self, now: float) -> None:
        self._probing = True
        self._probe_times = []
        self._probe_due = now + self.probe_interval
        self._window_start = now
        self.limit = self.min_limit
