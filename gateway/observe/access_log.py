"""One structured (JSON) line per request, written in batches.

It replaces uvicorn's access log (which `gateway serve` switches off), since only the gateway
knows the route template and the side that answered.

A line is one f-string: the strings escaped by the JSON encoder's own C escaper, the time
formatted once a second. Lines wait in a bounded buffer written at most every 50 ms (or as
soon as 256 are waiting), at shutdown, at exit and before a fork: building and writing a
`logging` record per request cost more than the rest of the gateway's own work. A crash loses
at most the last ~50 ms of lines. `GATEWAY_ACCESS_LOG_TO` says where they go: stdout (the
default), stderr, a file, or `logging` (the `gateway.access` logger, one record per line, at
once), for custom handlers.

Strings are written with `ensure_ascii`: a path may hold characters that some readers take as a
line break (U+0085, U+2028, U+2029 for Python's `str.splitlines()`) or that reorder what a
terminal shows; escaped, every record is one line for any reader and shows what was sent. The
line is exactly what `json.dumps` of the same record gives.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import sys
import time
import weakref
from collections.abc import Callable
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii
from pathlib import Path
from typing import TextIO

logger = logging.getLogger("gateway.access")

FLUSH_EVERY = 0.05  # seconds a line may wait in the buffer
FLUSH_LINES = 256  # lines that make the buffer write at once
DESTINATIONS = ("stdout", "stderr", "logging")  # or a file's path

_quote: Callable[[str], str] = encode_basestring_ascii


def log_time() -> str:
    """Now, as every JSON line the gateway writes gives it: ISO 8601, UTC, milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class _Clock:
    """`log_time()`, with the part up to the second formatted once a second."""

    __slots__ = ("_second", "_prefix")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def now(self) -> str:
        now = time.time()
        second = int(now)
        if second != self._second:
            stamp = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._second, self._prefix = second, stamp
        return f"{self._prefix}.{int((now - second) * 1000):03d}+00:00"


def request_line(
    now: str,
    request_id: str,
    method: str,
    path: str,
    route: str,
    side: str,
    status: int,
    duration: float,
    client: str | None,
    target: str | None = None,
    fallback_from: str | None = None,
    decision: str | None = None,
    failed: bool = False,
    trace: tuple[str, str] | None = None,
) -> str:
    """The access log line of one answer, as `json.dumps` would write the record."""
    line = (
        f'{{"time": "{now}", "event": "request", "request_id": {_quote(request_id)}, '
        f'"method": {_quote(method)}, "path": {_quote(path)}, "route": {_quote(route)}, '
        f'"side": {_quote(side)}, "status": {status}, '
        f'"duration_ms": {round(duration * 1000, 3)!r}, '
        f'"client": {"null" if client is None else _quote(client)}'
    )
    if target is not None:
        line += f', "target": {_quote(target)}'
    if fallback_from is not None:
        line += f', "fallback_from": {_quote(fallback_from)}'
    if decision is not None:  # what chose the side, e.g. a match rule
        line += f', "decision": {_quote(decision)}'
    if failed:  # the answer started, then the side failed: the client saw it cut
        line += ', "failed": true'
    if trace is not None:  # with tracing on: the request's trace and SERVER span
        line += f', "trace_id": {_quote(trace[0])}, "span_id": {_quote(trace[1])}'
    return line + "}"


Write = Callable[[str], None]


def _stream(name: str) -> Write:
    def write(text: str) -> None:
        # Looked up at each write: a test's capture, or a server's redirect, replaces it.
        stream: TextIO = getattr(sys, name)
        stream.write(text)
        stream.flush()

    return write


def _file(path: Path) -> Write:
    def write(text: str) -> None:
        # Opened for each batch (a few a second at most): a rotated file is followed.
        with path.open("a", encoding="utf-8") as file:
            file.write(text)

    return write


def destinations(setting: str) -> tuple[list[Write], bool]:
    """The writers a `GATEWAY_ACCESS_LOG_TO` value names, and whether `logging` is one."""
    writers: list[Write] = []
    to_logging = False
    for part in (part.strip() for part in setting.split(",")):
        if part == "logging":
            to_logging = True
        elif part in ("stdout", "stderr"):
            writers.append(_stream(part))
        elif part:
            writers.append(_file(Path(part)))
    if not writers and not to_logging:
        raise ValueError(f"no destination in {setting!r}: stdout, stderr, logging or a path")
    return writers, to_logging


class AccessLog:
    """The access log of one gateway: lines in, batches out to its destinations."""

    def __init__(self, setting: str = "stdout") -> None:
        self.writers, self.to_logging = destinations(setting)
        self._lines: list[str] = []
        self._timer: asyncio.TimerHandle | None = None
        self._clock = _Clock()
        _LOGS.add(self)

    def now(self) -> str:
        return self._clock.now()

    def add(self, line: str) -> None:
        if self.to_logging:
            logger.info(line)
        if not self.writers:
            return
        lines = self._lines
        lines.append(line)
        if len(lines) >= FLUSH_LINES:
            self.flush()
        elif len(lines) == 1:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # not on an event loop: nothing would write it later
                self.flush()
                return
            self._timer = loop.call_later(FLUSH_EVERY, self.flush)

    def flush(self) -> None:
        """Write the lines waiting, now."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._lines:
            return
        lines, self._lines = self._lines, []
        text = "\n".join(lines) + "\n"
        for write in self.writers:
            try:
                write(text)
            except (OSError, ValueError):  # a closed stream, a full disk: the lines are lost
                pass


_LOGS: weakref.WeakSet[AccessLog] = weakref.WeakSet()


def flush_all() -> None:
    """Write every gateway's waiting lines: at exit, and before a fork copies the buffers."""
    for log in list(_LOGS):
        log.flush()


atexit.register(flush_all)
os.register_at_fork(before=flush_all)
