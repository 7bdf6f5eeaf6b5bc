"""The route table in force, and how a new one replaces it while requests keep flowing.

A request reads `LiveRouteTable.table` once, when it starts, and keeps that table to the end:
swapping the attribute is atomic, so requests in flight finish on the table they started with
and new ones see the new table, with no lock on the request path. A table is only swapped in
once it has been fully built and validated; a broken edit leaves the old table serving and is
reported in the log, in the metrics and in `last`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import signal
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import watchfiles

from gateway.metrics import GatewayMetrics
from gateway.routes_file import RoutesFileError, read_routes_file
from gateway.table import RouteTable

logger = logging.getLogger("gateway.reload")

TableBuilder = Callable[[bytes, str], RouteTable]


@dataclass(frozen=True, slots=True)
class ReloadResult:
    ok: bool
    at: float  # wall-clock time of the attempt
    trigger: str  # "start", "watch", "signal" or "api"
    error: str | None = None
    entries: int | None = None


class LiveRouteTable:
    def __init__(
        self,
        path: Path,
        build: TableBuilder,
        metrics: GatewayMetrics,
        on_swap: Callable[[RouteTable], None] = lambda table: None,
    ) -> None:
        self.path = path
        self._build = build
        self._metrics = metrics
        self._on_swap = on_swap
        self._digest = b""
        self._lock = asyncio.Lock()
        # The first table must load, or the gateway does not start: RoutesFileError propagates.
        content = read_routes_file(path)
        self.table: RouteTable = build(content, str(path))
        self._digest = hashlib.sha256(content).digest()
        self.last = ReloadResult(ok=True, at=time.time(), trigger="start", entries=len(self.table))
        on_swap(self.table)
        self._publish(self.last)

    async def reload(self, trigger: str, *, only_if_changed: bool = False) -> ReloadResult:
        """Load the routes file again and swap the new table in if it is valid."""
        async with self._lock:  # one reload at a time; requests never wait on this lock
            try:
                content = await asyncio.to_thread(read_routes_file, self.path)
                digest = hashlib.sha256(content).digest()
                if only_if_changed and digest == self._digest:
                    return self.last
                table = await asyncio.to_thread(self._build, content, str(self.path))
            except RoutesFileError as exc:
                result = ReloadResult(ok=False, at=time.time(), trigger=trigger, error=str(exc))
                logger.error(
                    "routes file rejected, the previous table keeps serving:\n%s",
                    exc,
                    extra={"event": "reload", "result": "failure", "trigger": trigger},
                )
            else:
                self.table = table
                self._on_swap(table)
                self._digest = digest
                result = ReloadResult(ok=True, at=time.time(), trigger=trigger, entries=len(table))
                logger.info(
                    "route table reloaded from %s: %d entries, default %s",
                    self.path,
                    len(table),
                    table.default,
                    extra={"event": "reload", "result": "success", "trigger": trigger},
                )
            self.last = result
            self._publish(result)
            return result

    def _publish(self, result: ReloadResult) -> None:
        self._metrics.reloads.labels("success" if result.ok else "failure").inc()
        self._metrics.last_reload_success.set(1 if result.ok else 0)
        if result.ok:
            self._metrics.last_reload_time.set(result.at)
            routes = {(entry.path, entry.target) for entry in self.table.entries}
            self._metrics.publish_table(routes, len(self.table))

    async def watch(self) -> None:
        """Reload whenever the routes file may have changed, until cancelled.

        The file's folder is watched rather than the file: editors save by renaming a new file
        over the old one, and Kubernetes updates a mounted ConfigMap by swapping a symlink, and
        neither changes the original file. A change of content is checked by digest.
        """
        folder = self.path.absolute().parent
        async for _ in watchfiles.awatch(folder, debounce=300, step=50, recursive=False):
            await self.reload("watch", only_if_changed=True)

    def install_signal_handler(self) -> Callable[[], None]:
        """Reload on SIGHUP; returns a function that removes the handler."""
        loop = asyncio.get_running_loop()
        tasks: set[asyncio.Task[ReloadResult]] = set()

        def on_signal() -> None:
            task = loop.create_task(self.reload("signal"))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        try:
            loop.add_signal_handler(signal.SIGHUP, on_signal)
        except (ValueError, RuntimeError, NotImplementedError):
            # Not the main thread (e.g. a test client's portal) or not a POSIX platform.
            logger.debug("SIGHUP reload not available in this thread (pid %d)", os.getpid())
            return lambda: None

        def remove() -> None:
            with suppress(ValueError, RuntimeError):
                loop.remove_signal_handler(signal.SIGHUP)

        return remove
