"""A SQLite ledger file deleted while connections to it are open: what SQLite does with the
`-wal` and `-shm` names, and how a new file of the same name is kept apart from the old one."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from gateway.parity.store import ensure_schema, ledger_url, open_engine


def connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    return connection


def inodes(path: Path, *suffixes: str) -> list[int]:
    return [os.stat(f"{path}{suffix}").st_ino for suffix in suffixes]


def test_closing_a_connection_to_a_deleted_file_leaves_the_names_to_the_new_one(
    tmp_path: Path,
) -> None:
    """What the ledger relies on: a worker that notices late closes its connection to the
    deleted file, the last one open to it, and SQLite must neither checkpoint nor remove the
    `-wal` and `-shm` by name, which are the new file's by then."""
    path = tmp_path / "parity.db"
    old = connect(path)
    old.execute("CREATE TABLE t (x)")
    old.execute("INSERT INTO t VALUES (1)")
    for suffix in ("", "-wal", "-shm"):
        os.unlink(f"{path}{suffix}")
    new = connect(path)
    new.execute("PRAGMA wal_autocheckpoint=0")  # what it writes stays in its -wal only
    new.execute("CREATE TABLE t (x)")
    new.executemany("INSERT INTO t VALUES (?)", [(n,) for n in range(100)])
    before = inodes(path, "-wal", "-shm")
    old.execute("INSERT INTO t VALUES (2)")  # to the deleted file, as a late worker would
    old.close()
    assert inodes(path, "-wal", "-shm") == before
    other = sqlite3.connect(path)
    try:
        assert other.execute("SELECT count(*) FROM t").fetchone() == (100,)
        assert other.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        other.close()
        new.close()


def test_a_new_file_takes_nothing_of_a_deleted_one_s_wal_and_shm(tmp_path: Path) -> None:
    """Only `parity.db` deleted: its `-wal` and `-shm` are still there, still used by the
    connections to the deleted file, and must not become the new file's."""
    path = tmp_path / "parity.db"
    old = connect(path)
    old.execute("CREATE TABLE t (x)")
    old.execute("INSERT INTO t VALUES (1)")
    left = inodes(path, "-wal", "-shm")
    path.unlink()
    engine = open_engine(ledger_url(f"sqlite:///{path}"), create=True)
    try:
        ensure_schema(engine)
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE t (x)"))
            connection.execute(text("INSERT INTO t VALUES (7)"))
        assert set(inodes(path, "-wal", "-shm")).isdisjoint(left)
        old.execute("INSERT INTO t VALUES (2)")  # the old connection writes on, to its own
        assert old.execute("SELECT x FROM t").fetchall() == [(1,), (2,)]
        with engine.connect() as connection:
            assert connection.execute(text("SELECT x FROM t")).all() == [(7,)]
            assert connection.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    finally:
        old.close()
        engine.dispose()


def test_a_reader_never_makes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "parity.db"
    url = ledger_url(f"sqlite:///{path}")
    writer = open_engine(url, create=True)
    ensure_schema(writer)
    writer.dispose()
    reader = open_engine(url, create=False)
    try:
        path.unlink()  # after the reader looked for it, before it connects
        with pytest.raises(OperationalError, match="unable to open"):
            reader.connect()
        assert not path.exists()
    finally:
        reader.dispose()
