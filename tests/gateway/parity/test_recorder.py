"""The ledger's writer: batches off the loop, grouping, bounds, and a database that fails."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from starlette.types import Message

from gateway.behaviours.shadow import MAX_DIFFERENCES_KEPT, ShadowOptions
from gateway.compare import Difference
from gateway.config.routes_file import parse_routes
from gateway.parity import readiness
from gateway.parity.metrics import LedgerMetrics
from gateway.parity.recorder import HEADER_VALUE_LIMIT, Ledger
from gateway.parity.redaction import REDACTED, Redactor
from gateway.parity.store import OTHER_SIGNATURE, ledger_url
from tests.gateway.parity.ledgers import make_copy, make_ledger, seen, sqlite_url, write, written

BIO = Difference("body:$.author.bio", "null", '""', ("author", "bio"), "type_changed")
VARY = Difference("header:vary", "Accept", "(absent)", kind="missing")


def test_comparisons_are_grouped_by_signature_with_counts_and_samples(any_ledger: str) -> None:
    registry = CollectorRegistry()
    url = any_ledger
    ledger = make_ledger(url, registry=registry, samples=2)
    ledger.start()
    secret = [(b"authorization", b"Bearer s3cret"), (b"accept", b"*/*")]
    for number in range(3):
        ledger.record(make_copy(path=f"/authors/{number}", query=b"token=t&x=1"), "match", [])
    for _ in range(4):
        ledger.record(make_copy(headers=secret), "mismatch", [VARY])
    ledger.record(make_copy(), "mismatch", [BIO, VARY])
    ledger.record(make_copy(), "noise", [BIO])
    ledger.record(make_copy(), "timeout", [])
    assert ledger.close(10)
    assert written(registry, "written") == 10

    (parity,) = readiness.read(url)
    assert (parity.route, parity.compared, parity.matched, parity.noise) == (
        "/authors/{id}",
        9,
        4,
        1,
    )
    assert (parity.mismatched, parity.timeouts, parity.match_ratio) == (5, 1, 4 / 9)
    assert parity.last_mismatch is not None
    grouped = {(d.outcome, tuple(d.fields)): d for d in parity.differences}
    assert sorted((outcome, fields, d.count) for (outcome, fields), d in grouped.items()) == [
        ("mismatch", ("body:$.author.bio", "header:vary"), 1),
        ("mismatch", ("header:vary",), 4),  # one missing header on each request: one signature
        ("noise", ("body:$.author.bio",), 1),
    ]
    header_only = grouped[("mismatch", ("header:vary",))]
    assert header_only.kinds == {"header:vary": "missing"}
    assert len(header_only.samples) == 2  # the newest two of four
    sample = header_only.samples[0]
    assert ["authorization", REDACTED] in sample["request"]["headers"]
    assert "s3cret" not in repr(parity.as_dict())
    assert sample["differences"] == [VARY.as_dict()]
    assert sample["pid"] > 0 and sample["primary"] == "legacy"
    assert [s["request"]["query"] for s in parity.match_samples] == [f"token={REDACTED}&x=1"] * 2


def test_samples_stay_bounded_across_batches_and_workers(any_ledger: str) -> None:
    url = any_ledger
    for _ in range(3):  # three writers, one after the other, as workers or restarts would be
        ledger = make_ledger(url, samples=2)
        ledger.start()
        for _ in range(3):
            ledger.record(make_copy(), "mismatch", [BIO])
        assert ledger.close(10)
    (parity,) = readiness.read(url)
    (signature,) = parity.differences
    assert signature.count == 9 and len(signature.samples) == 2
    assert signature.first_seen < signature.last_seen


TABLE = b"""\
routes:
  - path: /authors/{id}
    target: shadow
    shadow: {timeout: %s}
  - path: /books/{id}
    methods: [GET]
    target: legacy
"""


def test_the_entry_s_last_change_is_recorded(any_ledger: str) -> None:
    url = any_ledger

    def load(content: bytes) -> float | None:
        ledger = make_ledger(url)
        ledger.start()
        ledger.table_loaded(parse_routes(content, "routes.yaml"))
        ledger.record(make_copy(), "match", [])
        assert ledger.close(10)
        (parity,) = readiness.read(url)
        return parity.entry_changed_at

    first = load(TABLE % b"2")
    assert first is not None
    assert load(TABLE % b"2") == first  # loaded again, unchanged
    changed = load(TABLE % b"3")
    assert changed is not None and changed > first


def test_a_table_without_shadow_entries_writes_nothing(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    ledger = make_ledger(url)
    ledger.start()
    ledger.table_loaded(parse_routes(b"routes: [{path: /x, target: new}]\n", "routes.yaml"))
    assert ledger.close(10)
    assert not (tmp_path / "parity.db").exists()


def test_a_full_queue_drops_and_counts(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    registry = CollectorRegistry()
    ledger = make_ledger(sqlite_url(tmp_path), registry=registry, queue_size=2)
    with caplog.at_level(logging.WARNING, "gateway.parity"):
        for _ in range(5):  # nothing drains the queue: the writer has not started
            ledger.record(make_copy(), "match", [])
    assert written(registry, "dropped") == 3
    assert [r.message for r in caplog.records].count(
        "parity ledger queue full: records dropped until it drains"
    ) == 1
    ledger.start()
    assert ledger.close(10)
    assert written(registry, "written") == 2


def test_a_ledger_that_cannot_be_written_is_counted_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("", encoding="utf-8")
    registry = CollectorRegistry()
    ledger = make_ledger(sqlite_url(blocker), registry=registry)
    with caplog.at_level(logging.ERROR, "gateway.parity"):
        ledger.start()
        ledger.record(make_copy(headers=[(b"authorization", b"Bearer s3cret")]), "match", [])
        deadline = time.monotonic() + 10
        while written(registry, "failed") < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        ledger.record(make_copy(), "match", [])  # the next batch tries again
        assert ledger.close(10)
    assert written(registry, "failed") == 2 and written(registry, "written") == 0
    (logged,) = [r.getMessage() for r in caplog.records]  # once per streak of failures
    assert "cannot write" in logged and "s3cret" not in logged


def test_shutdown_waits_a_bounded_time_for_a_locked_database(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = sqlite_url(tmp_path)
    ledger = make_ledger(url)
    ledger.start()
    ledger.record(make_copy(), "match", [])
    assert ledger.close(10)  # the file and its tables exist now
    holder = sqlite3.connect(tmp_path / "parity.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process's long write, as far as SQLite says
    try:
        ledger.start()
        ledger.record(make_copy(), "match", [])
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, "gateway.parity"):
            assert not ledger.close(0.2)
        assert time.monotonic() - started < 5  # bounded: the writer waits, shutdown does not
        # The record the writer holds in its batch (no longer queued) is one not written.
        (logged,) = [r.getMessage() for r in caplog.records]
        assert logged.startswith("parity ledger: 1 records not written"), logged
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert ledger.close(30)  # the lock gone, the writer ends and nothing is lost
    (parity,) = readiness.read(url)
    assert parity.compared == 2


def test_the_ledger_runs_as_a_lifespan(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    ledger = make_ledger(url)

    async def run() -> list[str]:
        inbox: asyncio.Queue[Message] = asyncio.Queue()
        sent: list[str] = []

        async def send(message: Message) -> None:
            sent.append(message["type"])

        task = asyncio.create_task(ledger({"type": "lifespan"}, inbox.get, send))
        await inbox.put({"type": "lifespan.startup"})
        while not sent:
            await asyncio.sleep(0.01)
        ledger.record(make_copy(options=ShadowOptions(ignore=("$..etag",))), "match", [])
        await inbox.put({"type": "lifespan.shutdown"})
        await asyncio.wait_for(task, 30)
        return sent

    assert asyncio.run(run()) == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    (parity,) = readiness.read(url)
    assert parity.compared == 1
    assert parity.match_samples[0]["rules"]["ignore"] == ["$..etag"]


def test_the_ledger_is_no_http_app(tmp_path: Path) -> None:
    async def nothing() -> Message:
        return {}

    async def ignore(message: Message) -> None:
        pass

    with pytest.raises(RuntimeError, match="only runs a lifespan"):
        asyncio.run(make_ledger(sqlite_url(tmp_path))({"type": "http"}, nothing, ignore))


def test_the_writer_outlives_a_failing_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from gateway.parity import recorder, signatures

    calls = [0]
    real = signatures.signature_of

    def fails_once(fields: list[tuple[str, str]]) -> str:
        calls[0] += 1
        if calls[0] == 1:
            raise RuntimeError("a bug in one batch")
        return real(fields)

    monkeypatch.setattr(recorder, "signature_of", fails_once)  # run by the writer thread
    registry = CollectorRegistry()
    ledger = make_ledger(sqlite_url(tmp_path), registry=registry)
    with caplog.at_level(logging.ERROR, "gateway.parity"):
        ledger.start()
        ledger.record(make_copy(), "match", [])
        deadline = time.monotonic() + 10
        while written(registry, "failed") < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        ledger.record(make_copy(), "match", [])
        assert ledger.close(10)
    assert (written(registry, "failed"), written(registry, "written")) == (1, 1)
    (logged,) = caplog.records
    assert logged.exc_info is not None  # a bug keeps its traceback


def test_old_comparisons_are_forgotten(any_ledger: str) -> None:
    month_ago = time.time() - 30 * 86400
    write(any_ledger, [seen(month_ago, "mismatch", route="/old"), seen(month_ago, route="/old")])
    assert [p.route for p in readiness.read(any_ledger)] == ["/old"]
    ledger = make_ledger(any_ledger)  # keeps one day
    ledger.start()
    ledger.record(make_copy(), "match", [])
    assert ledger.close(10)
    (parity,) = readiness.read(any_ledger)  # the writer pruned when it started
    assert parity.route == "/authors/{id}" and parity.compared == 1


def test_a_comparison_with_many_differences_keeps_a_few_and_its_whole_signature(
    tmp_path: Path,
) -> None:
    # A list of a thousand items, each differing in one field: one signature, and a queued
    # record (10,000 of them while the database is down) must not hold a thousand values.
    many = [
        Difference(f"body:$.items[{n}].at", '"1"', "1", ("items", n, "at"), "type_changed")
        for n in range(1000)
    ]
    url = sqlite_url(tmp_path)
    ledger = make_ledger(url)
    ledger.start()
    ledger.record(make_copy(), "mismatch", [*many, BIO])
    assert ledger.close(10)
    (parity,) = readiness.read(url)
    (signature,) = parity.differences
    assert signature.fields == ["body:$.author.bio", "body:$.items[*].at"]
    (sample,) = signature.samples
    assert len(sample["differences"]) == MAX_DIFFERENCES_KEPT


def test_a_route_keeps_a_bounded_number_of_signatures_and_samples(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    recorder = Ledger(
        ledger_url(url),
        LedgerMetrics(CollectorRegistry()),
        redactor=Redactor(safe_headers=["x-filler"]),
        queue_size=1000,
        samples_per_signature=2,
        retention_seconds=86400,
        interval=0.02,
        signatures_per_route=5,
    )
    recorder.start()
    filler = [(b"x-filler", b"f" * 30_000), (b"accept", b"application/json")]
    for n in range(12):
        key = Difference(f"body:$.k{n}", "1", "(absent)", (f"k{n}",), "missing")
        recorder.record(make_copy(headers=filler), "mismatch", [key])
    assert recorder.close(10)
    (parity,) = readiness.read(url)
    assert parity.compared == 12
    signatures = {s.signature: s for s in parity.differences}
    assert len(signatures) == 6  # five, and the rest counted together
    assert signatures[OTHER_SIGNATURE].count == 7
    sample = signatures[OTHER_SIGNATURE].samples[-1]["request"]
    assert sample["truncated"] is True
    assert len(json.dumps(sample["headers"])) < 2 * HEADER_VALUE_LIMIT


def test_the_queue_is_bounded_in_bytes() -> None:
    registry = CollectorRegistry()
    recorder = Ledger(
        ledger_url("sqlite:////nonexistent/parity.db"),
        LedgerMetrics(registry),
        redactor=Redactor(),
        queue_size=1000,
        samples_per_signature=2,
        retention_seconds=86400,
        queue_bytes=1 << 16,
    )  # not started: nothing drains the queue
    filler = [(b"x-filler", b"f" * 30_000)]
    for _ in range(100):
        recorder.record(make_copy(headers=filler), "match", [])
    dropped = registry.get_sample_value("gateway_ledger_records_total", {"result": "dropped"})
    # Room for 1,000 by count; by bytes (about 1.5 KB each, the header cut), for about 40.
    assert dropped is not None and 50 <= dropped < 100
