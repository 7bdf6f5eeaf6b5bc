"""The route table in force, and how a new one replaces it while requests keep flowing.

A request reads `LiveRouteTable.table` once, when it starts, and keeps that table to the end:
swapping the attribute is atomic, so requests in flight finish on the table they started with
and new ones see the new table, with no lock on the request path. A table is only swapped in
once it has been fully built and validated; a broken edit leaves the old table serving and is
reported in the log, in the metrics and in `last`. So is any other failure of a reload, a bug
included: reloading is supervised, and neither the watcher nor SIGHUP stops working after one.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import signal
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import watchfiles
from watchfiles import Change

from gateway.config.routes_file import RoutesFileError, read_routes_file
from gateway.control.table_changes import table_changes
from gateway.observe.metrics import GatewayMetrics
from gateway.routing.table import RouteTable

logger = logging.getLogger("gateway.reload")

TableBuilder = Callable[[bytes, str], RouteTable]
# What to warn about in a table that loads all the same (one message per problem).
TableReview = Callable[[RouteTable], Sequence[str]]
WATCH_RETRY_SECONDS = 1.0
WATCH_RETRY_MAX_SECONDS = 30.0
WATCH_RECHECK_MS = 2000  # with no change for this long, the file is checked anyway


@dataclass(frozen=True, slots=True)
class ReloadResult:
    ok: bool
    at: float  # wall-clock time of the attempt
    trigger: str  # "start", "watch", "signal" or "api"
    error: str | None = None
    entries: int | None = None


def reviewed(build: TableBuilder, review: TableReview) -> TableBuilder:
    """`build`, logging as a warning what `review` finds in each table it builds.

    For what a routes file can hold and still serve, but not as its authors may think (an
    entry that captures another endpoint's path): refusing it would stop a routes file that
    loaded yesterday from loading today, at start-up or on a reload. `gateway check` refuses it.
    """

    def build_and_review(content: bytes, source: str) -> RouteTable:
        table = build(content, source)
        for warning in review(table):
            logger.warning("%s: %s", source, warning, extra={"event": "routes_warning"})
        return table

    return build_and_review


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
        # The content last refused, so that a broken file is reported once per edit, not on
        # every check of the watcher while it stays broken; and since when it is broken.
        self._rejected: bytes | None = None
        self._rejected_since: float | None = None
        self._lock = asyncio.Lock()
        self._changes_seen = 0  # batches of changes the watcher reported
        # The first table must load, or the gateway does not start: RoutesFileError propagates.
        content = read_routes_file(path)
        self.table: RouteTable = build(content, str(path))
        self._digest = hashlib.sha256(content).digest()
        self.last = ReloadResult(ok=True, at=time.time(), trigger="start", entries=len(self.table))
        on_swap(self.table)
        self._publish(self.last)

    async def reload(self, trigger: str, *, only_if_changed: bool = False) -> ReloadResult:
        """Load the routes file again and swap the new table in if it is valid.

        Never raises (but for cancellation): a failure of any kind is a failed reload, logged,
        counted and kept in `last`, and the table in force keeps serving. Live reload outlives
        whatever one attempt runs into, a bug included.
        """
        async with self._lock:  # one reload at a time; requests never wait on this lock
            try:
                result = await self._reload(trigger, only_if_changed)
            except RoutesFileError as exc:
                result = ReloadResult(ok=False, at=time.time(), trigger=trigger, error=str(exc))
                logger.error(
                    "routes file rejected, the previous table keeps serving:\n%s",
                    exc,
                    extra={"event": "reload", "result": "failure", "trigger": trigger},
                )
            except Exception as exc:
                error = f"{self.path}: unexpected error: {type(exc).__name__}: {exc}"
                result = ReloadResult(ok=False, at=time.time(), trigger=trigger, error=error)
                logger.exception(
                    "reloading %s failed unexpectedly, the previous table keeps serving",
                    self.path,
                    extra={"event": "reload", "result": "failure", "trigger": trigger},
                )
            if result is not self.last:
                if result.ok and not self.last.ok:
                    self._log_recovery(trigger)
                self.last = result
                self._publish(result)
            return result

    def _log_recovery(self, trigger: str) -> None:
        since = self._rejected_since or time.time()
        logger.info(
            "routes file %s valid again after %.0f s; its table is in force",
            self.path,
            time.time() - since,
            extra={"event": "reload", "result": "recovered", "trigger": trigger},
        )
        self._rejected = self._rejected_since = None

    async def _reload(self, trigger: str, only_if_changed: bool) -> ReloadResult:
        try:
            content = await asyncio.to_thread(read_routes_file, self.path)
        except RoutesFileError as exc:
            # No content to know it by (missing, unreadable): the error stands for it.
            digest = f"unreadable: {exc}".encode()
            if only_if_changed and digest == self._rejected and not self.last.ok:
                return self.last
            self._remember_refused(digest)
            raise
        digest = hashlib.sha256(content).digest()
        if only_if_changed and digest == self._digest:
            if self.last.ok:
                return self.last
            # A broken edit was undone: the file holds the table in force again, which makes
            # this a success, not a failure that stays reported until the next edit.
            return ReloadResult(ok=True, at=time.time(), trigger=trigger, entries=len(self.table))
        if only_if_changed and digest == self._rejected and not self.last.ok:
            return self.last  # refused already, logged and counted once: still the same file
        try:
            table = await asyncio.to_thread(self._build, content, str(self.path))
        except Exception:
            self._remember_refused(digest)
            raise
        old, self.table = self.table, table
        self._on_swap(table)
        self._digest = digest
        changes = table_changes(old, table)
        logger.info(
            "route table reloaded from %s: %d entries, default %s; %s",
            self.path,
            len(table),
            table.default,
            "changes:\n  " + "\n  ".join(changes) if changes else "no entry changed",
            extra={"event": "reload", "result": "success", "trigger": trigger, "changes": changes},
        )
        return ReloadResult(ok=True, at=time.time(), trigger=trigger, entries=len(table))

    def _remember_refused(self, digest: bytes) -> None:
        self._rejected = digest
        if self._rejected_since is None:
            self._rejected_since = time.time()

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

        Watching can stop: the folder removed (the OS drops its watch, so a folder made again
        would go unnoticed), the OS out of watches. Rather than leave the gateway deaf to
        edits, it reloads and watches again after a pause, longer each time it fails in a row.
        """
        folder = self.path.absolute().parent
        delay = WATCH_RETRY_SECONDS
        while True:
            changes_before = self._changes_seen
            try:
                await self._watch_folder(folder)
                logger.warning(
                    "%s is gone (removed or renamed); watching it again in %g s",
                    folder,
                    delay,
                    extra={"event": "watch", "result": "failure"},
                )
            except Exception:
                logger.exception(
                    "watching %s failed; watching it again in %g s",
                    folder,
                    delay,
                    extra={"event": "watch", "result": "failure"},
                )
            await asyncio.sleep(delay)
            # Back off while watching keeps failing at once; start over once it has worked.
            worked = self._changes_seen > changes_before
            delay = WATCH_RETRY_SECONDS if worked else min(2 * delay, WATCH_RETRY_MAX_SECONDS)
            # An edit made while nobody watched would otherwise wait for the next one.
            await self.reload("watch", only_if_changed=True)

    async def _watch_folder(self, folder: Path) -> None:
        """Reload on each change in `folder`, until the folder itself goes."""
        async for changes in watchfiles.awatch(
            folder,
            debounce=300,
            step=50,
            recursive=False,
            rust_timeout=WATCH_RECHECK_MS,
            yield_on_timeout=True,
        ):
            if not changes:
                # Quiet for a while, and the watcher is running: a change made before it
                # started (between the first load and now, e.g. while a worker booted) would
                # otherwise wait for the next edit. Checked by digest: usually nothing to do.
                await self.reload("watch", only_if_changed=True)
                continue
            if any(Path(path) == folder for kind, path in changes if kind == Change.deleted):
                return
            self._changes_seen += 1
            await self.reload("watch", only_if_changed=True)

    def install_signal_handler(self) -> Callable[[], None]:
        """Reload on SIGHUP; returns a function that removes the handler."""
        loop = asyncio.get_running_loop()
        tasks: set[asyncio.Task[ReloadResult]] = set()

        def on_signal() -> None:
            task = loop.create_task(self.reload("signal"))
            tasks.add(task)
            task.add_done_callback(done)

        def done(task: asyncio.Task[ReloadResult]) -> None:
            tasks.discard(task)
            # reload() reports its own failures; this only catches one in the reporting.
            if not task.cancelled() and (exc := task.exception()) is not None:
                logger.error("reload on SIGHUP failed", exc_info=exc)

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
