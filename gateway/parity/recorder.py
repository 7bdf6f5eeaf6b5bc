"""Recording shadow comparisons in the ledger without costing the requests anything.

On the event loop a comparison costs one `put_nowait` of references into a bounded queue; a
full queue drops the record and counts it. One writer thread per worker process wakes every
`interval`, takes everything queued, and does the rest there: signatures, redaction, and one
transaction per batch. A database that is down or slow fails or delays that thread only: the
failure is counted (`gateway_ledger_records_total{result="failed"}`) and logged once per
streak, and the next batch tries again.

The ledger is also an ASGI lifespan app, run as a child of the gateway's: its thread starts
with the gateway and, at shutdown, gets a bounded time to write what is still queued.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from starlette.types import Receive, Scope, Send

from gateway.behaviours.shadow import MAX_DIFFERENCES_KEPT
from gateway.compare import Difference
from gateway.http import headers as header_lookup
from gateway.parity import redaction
from gateway.parity.metrics import LedgerMetrics
from gateway.parity.redaction import Redactor
from gateway.parity.signatures import signature_fields, signature_of
from gateway.parity.store import (
    EntryLoaded,
    LedgerWriter,
    Observation,
    Sample,
    ensure_schema,
    file_identity,
    ledger_url,
    open_engine,
    shown,
)

if TYPE_CHECKING:
    from gateway.behaviours.shadow import Copy
    from gateway.options.shadow import ShadowOptions
    from gateway.routing.table import RouteEntry, RouteTable
    from gateway.settings import GatewaySettings

logger = logging.getLogger("gateway.parity")

PRUNE_EVERY_SECONDS = 60.0
FAILURE_LOG_EVERY_SECONDS = 60.0
# A sample's request headers: each value cut to HEADER_VALUE_LIMIT characters, and no more
# header values kept once HEADERS_LIMIT characters are (a 200 KB header must not be stored
# whole with every sample). What was cut is marked, and the sample says it was truncated.
HEADER_VALUE_LIMIT = 1024
HEADERS_LIMIT = 8192
TRUNCATED = "...[truncated]"
RECORD_OVERHEAD = 512  # bytes a queued record costs beyond the data it holds, roughly


@dataclass(frozen=True, slots=True)
class Compared:
    """A comparison as the event loop hands it over: references only, no work done yet."""

    at: float
    route: str
    method: str
    outcome: str
    fields: list[tuple[str, str]]  # the signature's, from every difference
    differences: list[Difference]  # the first MAX_DIFFERENCES_KEPT, for the sample
    path: str
    query: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes
    primary: str
    options: ShadowOptions
    noise: frozenset[str]


Record = Compared | EntryLoaded


def options_hash(entry: RouteEntry) -> str:
    # The controller's status is not a change of the entry (gateway.rollout writes it often).
    options = entry.options.model_dump_json(exclude={"status"})
    text = f"{entry.path}\n{sorted(entry.methods or ())}\n{options}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Ledger:
    def __init__(
        self,
        url: URL,
        metrics: LedgerMetrics,
        *,
        redactor: Redactor,
        queue_size: int,
        samples_per_signature: int,
        retention_seconds: float,
        queue_bytes: int = 16 << 20,
        signatures_per_route: int = 100,
        interval: float = 0.5,
        shutdown_seconds: float = 5.0,
    ) -> None:
        self.url = url
        self.metrics = metrics
        self.redactor = redactor
        self.samples_per_signature = samples_per_signature
        self.retention_seconds = retention_seconds
        self.interval = interval
        self.shutdown_seconds = shutdown_seconds
        self._queue: queue.Queue[Record] = queue.Queue(maxsize=queue_size)
        self.queue_bytes = queue_bytes
        self.signatures_per_route = signatures_per_route
        self._queued_bytes = 0  # of the records queued, as _size counts them
        self._bytes_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._writer: LedgerWriter | None = None
        self._failing_since: float | None = None
        self._failure_logged = 0.0
        self._dropping = False
        self._in_batch = 0  # records the writer took from the queue and has not finished with
        self._pid = os.getpid()

    # --- on the event loop ----------------------------------------------------------------

    def record(self, copy: Copy, outcome: str, differences: list[Difference]) -> None:
        """A shadow comparison's outcome (the ShadowRunner's hook)."""
        scope, route = copy.scope, copy.route
        self._put(
            Compared(
                at=time.time(),
                route=route.route,
                method=scope["method"],
                outcome=outcome,
                # The signature now, the values of a few: a queue of 10,000 records (while the
                # database is down) must not hold every value of a thousand-item list each.
                fields=signature_fields(differences),
                differences=differences[:MAX_DIFFERENCES_KEPT],
                path=scope["path"],
                query=scope.get("query_string", b""),
                # Cut now, not in the writer: the queue must not keep a 200 KB header alive.
                headers=[
                    (name, value[: HEADER_VALUE_LIMIT + 1]) for name, value in scope["headers"]
                ],
                body=copy.body[: redaction.BODY_LIMIT + 1],  # longer ones are not kept
                primary=copy.primary_side,
                options=route.options,
                noise=frozenset(route.noise),
            )
        )

    def table_loaded(self, table: RouteTable) -> None:
        """Record each entry's options hash, when the table has something to compare."""
        if not any(entry.options.shadow_policy is not None for entry in table.entries):
            return
        now = time.time()
        for entry in table.entries:
            methods = ",".join(sorted(entry.methods)) if entry.methods else ""
            self._put(EntryLoaded(entry.path, methods, options_hash(entry), now))

    def _put(self, record: Record) -> None:
        size = _size(record)
        try:
            with self._bytes_lock:
                if self._queued_bytes + size > self.queue_bytes:
                    raise queue.Full
                self._queue.put_nowait(record)
                self._queued_bytes += size
        except queue.Full:
            self.metrics.records.labels("dropped").inc()
            if not self._dropping:
                self._dropping = True
                logger.warning("parity ledger queue full: records dropped until it drains")
        else:
            self._dropping = False

    # --- lifespan -------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            raise RuntimeError("the parity ledger only runs a lifespan")
        await receive()  # lifespan.startup
        self.start()
        await send({"type": "lifespan.startup.complete"})
        await receive()  # lifespan.shutdown
        await asyncio.to_thread(self.close, self.shutdown_seconds)
        await send({"type": "lifespan.shutdown.complete"})

    def start(self) -> None:
        self._pid = os.getpid()  # a forked worker's own
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="gateway-parity-ledger")
        self._thread.daemon = True  # a hung database must not keep the process alive
        self._thread.start()

    def close(self, timeout: float) -> bool:
        """Write what is queued, within `timeout` seconds; whether everything was written."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.warning(
                    "parity ledger: %d records not written within %.1fs at shutdown",
                    self._queue.qsize() + self._in_batch,
                    timeout,
                )
                return False
            self._thread = None
        if self._writer is not None:
            self._writer.engine.dispose()
            self._writer = None
        return True

    # --- the writer thread ----------------------------------------------------------------

    def _run(self) -> None:
        last_prune = 0.0
        while True:
            stopping = self._stop.wait(self.interval)
            records = self._drain()
            if records:
                self._in_batch = len(records)
                self._write(records)
                self._in_batch = 0
            if time.monotonic() - last_prune > PRUNE_EVERY_SECONDS and self._writer is not None:
                last_prune = time.monotonic()
                self._guarded(lambda writer: writer.prune(time.time() - self.retention_seconds))
            if stopping and self._queue.empty():
                return

    def _drain(self) -> list[Record]:
        records: list[Record] = []
        while True:
            try:
                records.append(self._queue.get_nowait())
            except queue.Empty:
                break
        taken = sum(_size(record) for record in records)
        with self._bytes_lock:
            self._queued_bytes -= taken
        return records

    def _write(self, records: list[Record]) -> None:
        def write(writer: LedgerWriter) -> None:
            entries = [record for record in records if isinstance(record, EntryLoaded)]
            compared = [record for record in records if isinstance(record, Compared)]
            writer.write(self._observations(compared), entries)

        if self._guarded(write):
            self.metrics.records.labels("written").inc(len(records))
        else:
            self.metrics.records.labels("failed").inc(len(records))

    def _guarded(self, work: Callable[[LedgerWriter], None]) -> bool:
        """Run `work(writer)`; a failure of any kind is counted by the caller and logged (once
        a minute at most), never raised: the writer thread outlives what one batch runs into."""
        try:
            writer = self._writer_for_now()
            work(writer)
        except Exception as exc:
            self._failed(exc)
            return False
        if self._failing_since is not None:
            logger.warning("parity ledger %s: writing again", shown(self.url))
            self._failing_since = None
        return True

    def _writer_for_now(self) -> LedgerWriter:
        writer = self._writer
        if writer is not None and writer.identity != file_identity(writer.engine):
            # Deleted or replaced while open: writing on would go to a file nobody can read.
            logger.warning(
                "parity ledger %s: the file was deleted or replaced; writing to a new one",
                shown(self.url),
            )
            # Safe however late this worker notices: SQLite neither checkpoints nor removes a
            # `-wal` or `-shm` (by name, which may be the new file's by now) when it closes a
            # connection to a file that is no longer at its path.
            writer.engine.dispose()
            self._writer = writer = None
        return writer or self._open()

    def _open(self) -> LedgerWriter:
        engine = open_engine(self.url, create=True)
        try:
            ensure_schema(engine)
        except Exception:
            engine.dispose()
            raise
        self._writer = LedgerWriter(engine, self.samples_per_signature, self.signatures_per_route)
        return self._writer

    def _failed(self, exc: Exception) -> None:
        if self._writer is not None:
            self._writer.engine.dispose()
            self._writer = None  # open again (and check the tables) next time
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
        elif now - self._failure_logged < FAILURE_LOG_EVERY_SECONDS:
            return
        self._failure_logged = now
        # The driver's message only: SQLAlchemy's own would quote the statement's parameters.
        reason = exc.orig if isinstance(exc, DBAPIError) else exc
        logger.error(
            "parity ledger %s: cannot write (%s: %s); comparisons are counted as failed",
            shown(self.url),
            type(reason).__name__,
            str(reason).strip().splitlines()[0] if str(reason).strip() else "",
            # A database's or the file system's refusal says enough; anything else is a bug.
            exc_info=not isinstance(exc, DBAPIError | OSError),
        )

    def _observations(self, compared: list[Compared]) -> list[Observation]:
        signed = [(item, item.fields) for item in compared]
        # Only the newest few of each signature in this batch become samples.
        sampled: dict[tuple[str, str, str, str], int] = defaultdict(int)
        observations: list[Observation] = []
        for item, fields in reversed(signed):
            signature = signature_of(fields)
            key = (item.route, item.method, item.outcome, signature)
            sample = None
            if sampled[key] < self.samples_per_signature and item.outcome != "timeout":
                sampled[key] += 1
                sample = self._sample(item)
            observations.append(
                Observation(
                    item.route, item.method, item.outcome, signature, fields, item.at, sample
                )
            )
        observations.reverse()
        return observations

    def _sample(self, item: Compared) -> Sample:
        content_type = header_lookup.get(item.headers, b"content-type") or b""
        body = redaction.body(item.body, content_type.decode("latin-1"))
        headers, truncated = _bounded(self.redactor.request_headers(item.headers))
        request: dict[str, Any] = {
            "method": item.method,
            "path": item.path,
            "query": redaction.query(item.query.decode("latin-1")),
            "headers": headers,
            "body": body,
        }
        if truncated:
            request["truncated"] = True
        options = item.options
        rules = {
            "headers": list(options.headers) if options.headers is not None else None,
            "ignore_headers": list(options.ignore_headers),
            "ignore": list(options.ignore),
            "noise": sorted(item.noise),
            # The copy's header rules as the admin API shows them: environment references as
            # written (an exported test reads them from its environment), literal values hidden.
            "request_headers": (
                options.request_headers.model_dump(mode="json")
                if options.request_headers is not None
                else None
            ),
        }
        differences = [self.redactor.difference(d) for d in item.differences]
        return Sample(self._pid, item.primary, request, differences, rules)


def _bounded(headers: list[list[str]]) -> tuple[list[list[str]], bool]:
    """Headers as stored: long values cut, and none past HEADERS_LIMIT; whether any was."""
    kept: list[list[str]] = []
    total = 0
    truncated = False
    for name, value in headers:
        if len(value) > HEADER_VALUE_LIMIT:
            value, truncated = value[:HEADER_VALUE_LIMIT] + TRUNCATED, True
        total += len(name) + len(value)
        if total > HEADERS_LIMIT:
            return kept, True
        kept.append([name, value])
    return kept, truncated


def _size(record: Record) -> int:
    """About how many bytes a queued record keeps alive."""
    if isinstance(record, EntryLoaded):
        return RECORD_OVERHEAD
    held = len(record.path) + len(record.query) + len(record.body)
    held += sum(len(name) + len(value) for name, value in record.headers)
    held += sum(len(name) + len(kind) for name, kind in record.fields)
    held += sum(len(d.field) + len(d.primary) + len(d.shadow) for d in record.differences)
    return RECORD_OVERHEAD + held


def parity_ledger(
    settings: GatewaySettings, registry: CollectorRegistry, redactor: Redactor
) -> Ledger | None:
    """The ledger the settings ask for (None with GATEWAY_LEDGER=false)."""
    if not settings.ledger:
        return None
    return Ledger(
        ledger_url(settings.ledger_location),
        LedgerMetrics(registry),
        redactor=redactor,
        queue_size=settings.ledger_queue,
        queue_bytes=settings.ledger_queue_bytes,
        signatures_per_route=settings.ledger_signatures_per_route,
        samples_per_signature=settings.ledger_samples,
        retention_seconds=settings.ledger_retention_days * 86400,
    )
