"""Reading readiness back: windows, methods, the verdict, and a ledger that is not there."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from gateway.http.urls import masked
from gateway.parity import readiness, schema
from gateway.parity.readiness import RouteParity
from gateway.parity.store import (
    LedgerError,
    LedgerMissing,
    ensure_schema,
    ledger_url,
    open_engine,
)
from gateway.parity.windows import since_time
from tests.gateway.parity.ledgers import seen, sqlite_url, write


def test_the_tables_are_made_once(tmp_path: Path) -> None:
    engine = open_engine(ledger_url(sqlite_url(tmp_path)), create=True)
    ensure_schema(engine)
    ensure_schema(engine)  # a second worker finds the tables there
    engine.dispose()


def test_since_limits_every_figure(any_ledger: str) -> None:
    url = any_ledger
    now = time.time()
    old, recent = now - 3 * 3600, now - 60
    write(url, [seen(old, "mismatch"), seen(old, "mismatch"), seen(old), seen(recent)])
    write(url, [seen(recent, "mismatch"), seen(recent, "match", "POST")])
    (everything,) = readiness.read(url)
    assert (everything.compared, everything.matched, everything.differences[0].count) == (6, 3, 3)
    (last_hour,) = readiness.read(url, since=now - 3600)
    assert (last_hour.compared, last_hour.matched, last_hour.mismatched) == (3, 2, 1)
    assert last_hour.differences[0].count == 1
    (gets,) = readiness.read(url, since=now - 3600, methods=["get"])
    assert (gets.compared, gets.methods) == (2, ["GET"])
    assert readiness.read(url, since=now + 120) == []


def test_routes_are_read_one_or_all(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    write(url, [seen(time.time(), route="/a"), seen(time.time(), "error", route="/b")])
    assert [p.route for p in readiness.read(url)] == ["/a", "/b"]
    (b,) = readiness.read(url, route="/b")
    assert (b.compared, b.errors, b.mismatched, b.match_ratio) == (1, 1, 1, 0.0)


@pytest.mark.parametrize(
    ("parity", "ratio", "least", "meets"),
    [
        pytest.param(RouteParity("/r", compared=100, matched=99), 0.99, 1, True, id="at-ratio"),
        pytest.param(RouteParity("/r", compared=100, matched=98), 0.99, 1, False, id="below"),
        pytest.param(RouteParity("/r", compared=5, matched=5), 0.99, 10, False, id="too-few"),
        pytest.param(RouteParity("/r"), 0.0, 1, False, id="never-compared"),
    ],
)
def test_a_route_meets_a_ratio_with_enough_comparisons(
    parity: RouteParity, ratio: float, least: int, meets: bool
) -> None:
    assert parity.meets(ratio, least) is meets


def test_a_missing_ledger_says_so(tmp_path: Path) -> None:
    with pytest.raises(LedgerMissing, match="no ledger at"):
        readiness.read(sqlite_url(tmp_path))
    assert not (tmp_path / "parity.db").exists()  # reading never creates it


def test_an_empty_ledger_has_no_routes(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    (tmp_path / "parity.db").touch()
    assert readiness.read(url) == []


def test_an_unreadable_ledger_is_a_ledger_error(tmp_path: Path) -> None:
    (tmp_path / "parity.db").write_bytes(b"not a database" * 100)
    with pytest.raises(LedgerError, match="cannot read the ledger"):
        readiness.read(sqlite_url(tmp_path))


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        pytest.param("mysql://u:pw@h/db", "use sqlite", id="other-database"),
        pytest.param("sqlite://", "name a file", id="memory"),
        pytest.param("not a url", "cannot be read", id="garbage"),
    ],
)
def test_bad_ledger_urls_are_refused(url: str, problem: str) -> None:
    with pytest.raises(LedgerError, match=problem) as raised:
        ledger_url(url)
    assert "pw" not in str(raised.value)


def test_passwords_in_postgres_urls_are_never_shown() -> None:
    # Which driver a postgresql:// URL gets: test_drivers.py.
    assert masked("postgresql://u:pw@h:5432/db") == "postgresql://u:***@h:5432/db"


@pytest.mark.parametrize(
    ("text", "back"),
    [
        pytest.param("90s", 90, id="seconds"),
        pytest.param("15m", 900, id="minutes"),
        pytest.param("2h", 7200, id="hours"),
        pytest.param("1.5d", 129600, id="days"),
        pytest.param("1w", 604800, id="weeks"),
    ],
)
def test_since_durations(text: str, back: float) -> None:
    assert since_time(text, 1_000_000.0) == 1_000_000.0 - back


def test_since_times() -> None:
    assert since_time("2026-01-31T12:00:00Z", 0) == 1769860800.0
    assert since_time("2026-01-31T12:00:00", 0) == 1769860800.0  # no zone: UTC
    with pytest.raises(ValueError, match="give a duration"):
        since_time("yesterday", 0)


def test_a_ledger_being_made_reads_as_empty(tmp_path: Path) -> None:
    # A worker's first batch makes the tables one by one; `gateway parity` may look between.
    engine = open_engine(ledger_url(sqlite_url(tmp_path)), create=True)
    schema.counts.create(engine)
    engine.dispose()
    assert readiness.read(sqlite_url(tmp_path)) == []


def test_a_reader_reads_while_a_writer_holds_its_lock(tmp_path: Path) -> None:
    write(sqlite_url(tmp_path), [seen(time.time())])
    path = tmp_path / "parity.db"
    setup = sqlite3.connect(path, isolation_level=None)
    setup.execute("PRAGMA journal_mode=DELETE")  # as a file from before WAL, or being made
    setup.close()
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # a worker's write in progress: readers may still read
    try:
        (parity,) = readiness.read(sqlite_url(tmp_path))  # a reader changes no journal mode
        assert parity.compared == 1
    finally:
        writer.execute("ROLLBACK")
        writer.close()
