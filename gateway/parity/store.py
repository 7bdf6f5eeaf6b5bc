"""Reading and writing the ledger's tables, on SQLite (one file per host) or PostgreSQL.

SQLite runs in WAL mode, so the writer threads of several worker processes and any number of
readers (`gateway parity`, the admin API) share one file; a writer waits for another's
transaction (busy timeout) instead of failing. Upserts are the dialect's own
`INSERT ... ON CONFLICT`, so the workers of one host, or every replica on PostgreSQL, add to
the same counts without reading them first.

A SQLite file deleted while serving (alone, or with its `-wal` and `-shm`) is replaced by a
new one: each worker notices it by inode before its next batch and closes its connection to
the old file, which SQLite then neither checkpoints nor removes a `-wal` or `-shm` for (it
would be by name, the new file's); the first to write makes the new file, under the host
lock, after removing the old file's `-wal` and `-shm` (SQLite would take them as the new
file's). WAL mode stays: a rollback journal cost a third or more of the writers' throughput
and half again on a reader's time (docs/parity-ledger.md).
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy import and_, case, create_engine, delete, event, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from gateway.http.urls import masked
from gateway.parity import schema

SQLITE_BUSY_SECONDS = 10.0
SCHEMA_ATTEMPTS = 8  # about 6 s of backoff in all
SCHEMA_FIRST_WAIT_SECONDS = 0.05
SCHEMA_LOCK_KEY = 0x7061726974790001  # pg_advisory_xact_lock's key for the ledger's tables
POSTGRES_CONNECT_SECONDS = 5
# Past a route's cap, new signatures are counted under this one (a client sending a new JSON
# key with every request must not grow the ledger by a signature and its samples each time).
OTHER_SIGNATURE = "other"
OTHER_FIELDS = [("(other signatures, past the cap)", "capped")]
# The drivers a plain postgresql:// URL may use, in this order: psycopg 3 (the `postgres`
# extra), which SQLAlchemy speaks from 2.0 on, then psycopg2, SQLAlchemy 1.4's only choice and
# the driver an app on SQLAlchemy 1.4 and PostgreSQL brings. SQLAlchemy's own default for
# postgresql:// is psycopg2 whatever is installed.
POSTGRES_DRIVERS = ("psycopg", "psycopg2")


class LedgerError(RuntimeError):
    """The ledger cannot be opened or read; the message names it (without a password)."""


class LedgerMissing(LedgerError):
    """No ledger file yet: nothing was recorded there (or the URL names another place)."""


@dataclass(frozen=True, slots=True)
class Sample:
    pid: int
    primary_side: str
    request: dict[str, Any]
    differences: list[dict[str, str]]
    rules: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Observation:
    """One comparison, ready to store."""

    route: str
    method: str
    outcome: str
    signature: str
    fields: list[tuple[str, str]]
    at: float
    sample: Sample | None = None

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.route, self.method, self.outcome, self.signature)


@dataclass(frozen=True, slots=True)
class EntryLoaded:
    """A route-table entry as loaded: its options' hash tells when it last changed."""

    route: str
    methods: str
    options_hash: str
    at: float


def ledger_url(text: str) -> URL:
    """The SQLAlchemy URL for a ledger URL: sqlite:///PATH or postgresql://... (psycopg 3)."""
    try:
        url = make_url(text)
    except ArgumentError as exc:
        raise LedgerError(f"ledger URL {masked(text)!r} cannot be read") from exc
    backend = url.get_backend_name()
    if backend == "sqlite":
        if not url.database or url.database == ":memory:":
            raise LedgerError(
                f"ledger URL {masked(text)!r}: name a file, as sqlite:///data/parity.db"
            )
        return url
    if backend == "postgresql":
        return _with_postgres_driver(url, text)
    raise LedgerError(
        f"ledger URL {masked(text)!r}: use sqlite:///PATH or postgresql://USER@HOST/DB"
    )


def _with_postgres_driver(url: URL, text: str) -> URL:
    """`url` naming a PostgreSQL driver that is installed and that this SQLAlchemy speaks: the
    one the URL names (postgresql+psycopg2://), or the first of POSTGRES_DRIVERS found."""
    named = url.get_driver_name() if "+" in url.drivername else ""
    for driver in [named] if named else POSTGRES_DRIVERS:
        candidate = url.set(drivername=f"postgresql+{driver}")
        try:
            _load_driver(candidate)
        except (NoSuchModuleError, ImportError):
            continue
        return candidate
    found = f"its driver {named!r}" if named else "a PostgreSQL driver"
    raise LedgerError(
        f"ledger URL {masked(text)!r} needs {found}, and none is installed that SQLAlchemy "
        f"{sqlalchemy.__version__} can use: pip install 'flask-fastapi-gateway[postgres]' "
        "(psycopg 3, with SQLAlchemy 2), or psycopg2-binary (SQLAlchemy 1.4 has no psycopg 3 "
        "dialect)"
    )


def _load_driver(url: URL) -> None:
    """Import the URL's DBAPI module, as creating an engine would (ImportError when missing)."""
    dialect: Any = url.get_dialect()  # NoSuchModuleError: a driver this SQLAlchemy lacks
    # SQLAlchemy 2 names the hook import_dbapi; 1.4 has only dbapi, deprecated in 2.
    load = dialect.import_dbapi if hasattr(dialect, "import_dbapi") else dialect.dbapi
    load()


def shown(url: URL) -> str:
    return masked(url.render_as_string(hide_password=False))


def open_engine(url: URL, *, create: bool) -> Engine:
    """An engine for the ledger; a SQLite file (and its folder) is made only when `create`.

    `future=True` gives SQLAlchemy 1.4 the 2.x engine and connections (2.x takes it and
    changes nothing), so the ledger's code runs the same on both.
    """
    if url.get_backend_name() == "sqlite":
        path = Path(str(url.database))
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        elif not path.is_file():
            raise LedgerMissing(f"no ledger at {path} (nothing recorded yet, or another URL)")
        if create:
            engine = create_engine(url, future=True, connect_args={"timeout": SQLITE_BUSY_SECONDS})
        else:
            engine = create_engine(url, future=True, creator=_existing_file(path))
        # Only writers set the journal mode: changing it needs the file to itself, and SQLite
        # refuses at once (no busy wait) while a worker writes, which failed readers.
        event.listen(engine, "connect", _sqlite_pragmas if create else _sqlite_reader)
        return engine
    return create_engine(
        url,
        future=True,
        pool_pre_ping=True,
        connect_args={"connect_timeout": POSTGRES_CONNECT_SECONDS},
    )


def _existing_file(path: Path) -> Callable[[], sqlite3.Connection]:
    """Connections to the file at `path` that never create it: a reader racing a deletion
    must not make an empty file outside the host lock, beside the old `-shm`."""
    uri = f"{path.absolute().as_uri()}?mode=rw"  # read-write (a reader's close may checkpoint)

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(uri, uri=True, timeout=SQLITE_BUSY_SECONDS, check_same_thread=False)

    return connect


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    # WAL stays set in the file: only its first writer changes it (another worker starting at
    # the same moment would be refused while that one makes the tables).
    if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the workers' writers
    cursor.execute("PRAGMA synchronous=NORMAL")  # safe in WAL; no fsync per transaction
    cursor.close()


def _sqlite_reader(connection: Any, _record: Any) -> None:
    connection.execute("PRAGMA query_only=ON")  # `gateway parity` and the admin API only read


def ensure_schema(engine: Engine) -> None:
    """Create the tables that are missing, once however many workers and replicas start at once.

    Each creator holds a lock while it checks and creates (a lock file beside a SQLite ledger,
    a transaction-scoped advisory lock on PostgreSQL), so no two race between the check and the
    CREATE. A database that refuses for a moment (busy, starting) is tried again with backoff.
    """
    wait = SCHEMA_FIRST_WAIT_SECONDS
    for attempt in range(1, SCHEMA_ATTEMPTS + 1):
        try:
            _create_schema(engine)
        except (DBAPIError, OSError):
            if attempt == SCHEMA_ATTEMPTS:
                raise
            time.sleep(wait)
            wait = min(wait * 2, 2.0)
        else:
            return


def _create_schema(engine: Engine) -> None:
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            # Held to the end of this transaction: the other replicas wait, then find the tables.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
            schema.metadata.create_all(connection)
        return
    database = Path(str(engine.url.database))
    with _host_lock(database):
        if _is_new(database):
            _remove_leftovers(database)
        # The first connection also sets WAL mode, which needs the file to itself: under the
        # lock, no other worker is setting it at the same moment.
        schema.metadata.create_all(engine)


def _is_new(database: Path) -> bool:
    """Whether the file is still to be made (missing, or empty as `connect` leaves it)."""
    try:
        return database.stat().st_size == 0
    except FileNotFoundError:
        return True


def _remove_leftovers(database: Path) -> None:
    """Remove the `-wal`, `-shm` and `-journal` of a deleted ledger file, before a new file of
    that name is made (under the host lock, which every creator holds).

    SQLite finds them by name and cannot tell they belong to another file: the new file would
    take the old `-shm` as its own, the index of a `-wal` that workers which have not noticed
    the deletion yet still hold open. They keep their descriptors: removing the names takes
    nothing from them.
    """
    for suffix in ("-wal", "-shm", "-journal"):
        database.with_name(database.name + suffix).unlink(missing_ok=True)


@contextmanager
def _host_lock(database: Path) -> Iterator[None]:
    """An exclusive `flock` on a file beside the database, for the workers of one host.

    Not the database file itself: closing any descriptor of a file drops the POSIX locks that
    SQLite holds on it in this process.
    """
    lock = database.with_name(f".{database.name}.lock")
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed
        yield


def file_identity(engine: Engine) -> tuple[int, int] | None:
    """The SQLite file's device and inode (None on PostgreSQL, or when there is no file)."""
    if engine.dialect.name != "sqlite":
        return None
    try:
        found = os.stat(str(engine.url.database))
    except FileNotFoundError:
        return None
    return (found.st_dev, found.st_ino)


@dataclass(slots=True)
class _Batch:
    counts: dict[tuple[str, str, str, str, int], int] = field(default_factory=dict)
    signatures: dict[tuple[str, str, str, str], dict[str, Any]] = field(default_factory=dict)
    samples: dict[tuple[str, str, str, str], list[Observation]] = field(
        default_factory=lambda: defaultdict(list)
    )


class LedgerWriter:
    def __init__(
        self, engine: Engine, samples_per_signature: int, signatures_per_route: int = 100
    ) -> None:
        self.engine = engine
        self.samples_per_signature = samples_per_signature
        self.signatures_per_route = signatures_per_route
        self.identity = file_identity(engine)  # the file written to (SQLite), to see it replaced
        # (outcome, signature) of each route and method, as last read or written here; read
        # again when the cap seems reached, as other workers add to the same ledger.
        self._known: dict[tuple[str, str], set[tuple[str, str]]] = {}

    def write(self, observations: Iterable[Observation], entries: Iterable[EntryLoaded]) -> None:
        """Add one batch in one transaction."""
        entries = list(entries)
        with self.engine.begin() as connection:
            batch = self._aggregate(self._capped(connection, observations))
            if entries:
                self._write_entries(connection, entries)
            if batch.counts:
                self._write_counts(connection, batch)
                self._write_signatures(connection, batch)
            if batch.samples:
                self._write_samples(connection, batch)

    def _capped(
        self, connection: Connection, observations: Iterable[Observation]
    ) -> list[Observation]:
        """The observations, those past their route's signature cap counted as OTHER."""
        kept: list[Observation] = []
        read_again: set[tuple[str, str]] = set()
        for seen in observations:
            if seen.outcome == "match":
                kept.append(seen)
                continue
            route = (seen.route, seen.method)
            signature = (seen.outcome, seen.signature)
            known = self._known.get(route)
            full = known is not None and len(known) >= self.signatures_per_route
            if known is None or (full and signature not in known and route not in read_again):
                known = self._known[route] = self._signatures(connection, route)
                read_again.add(route)
            if signature in known or len(known) < self.signatures_per_route:
                known.add(signature)
                kept.append(seen)
            else:
                kept.append(replace(seen, signature=OTHER_SIGNATURE, fields=OTHER_FIELDS))
        return kept

    def _signatures(self, connection: Connection, route: tuple[str, str]) -> set[tuple[str, str]]:
        table = schema.signatures
        rows = connection.execute(
            select(table.c.outcome, table.c.signature).where(
                table.c.route == route[0], table.c.method == route[1]
            )
        )
        return {(outcome, signature) for outcome, signature in rows}

    def prune(self, cutoff: float) -> None:
        """Forget what was last seen before `cutoff` (Unix time)."""
        with self.engine.begin() as connection:
            connection.execute(delete(schema.counts).where(schema.counts.c.minute < cutoff // 60))
            connection.execute(delete(schema.samples).where(schema.samples.c.at < cutoff))
            connection.execute(
                delete(schema.signatures).where(schema.signatures.c.last_seen < cutoff)
            )

    def _aggregate(self, observations: Iterable[Observation]) -> _Batch:
        batch = _Batch()
        for seen in observations:
            minute_key = (*seen.key, int(seen.at // 60))
            batch.counts[minute_key] = batch.counts.get(minute_key, 0) + 1
            found = batch.signatures.get(seen.key)
            if found is None:
                batch.signatures[seen.key] = {
                    "fields": json.dumps(seen.fields),
                    "first_seen": seen.at,
                    "last_seen": seen.at,
                    "count": 1,
                }
            else:
                found["last_seen"] = max(found["last_seen"], seen.at)
                found["count"] += 1
            if seen.sample is not None:
                kept = batch.samples[seen.key]
                kept.append(seen)
                del kept[: -self.samples_per_signature]  # the newest few
        return batch

    def _insert(self, connection: Connection, table: Any) -> Any:
        dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
        return dialect.insert(table)

    def _write_counts(self, connection: Connection, batch: _Batch) -> None:
        table = schema.counts
        names = ("route", "method", "outcome", "signature", "minute")
        rows = [
            {**dict(zip(names, key, strict=True)), "count": n} for key, n in batch.counts.items()
        ]
        insert = self._insert(connection, table)
        upsert = insert.on_conflict_do_update(
            index_elements=list(names), set_={"count": table.c.count + insert.excluded.count}
        )
        connection.execute(upsert, rows)

    def _write_signatures(self, connection: Connection, batch: _Batch) -> None:
        table = schema.signatures
        names = ("route", "method", "outcome", "signature")
        rows = [
            {**dict(zip(names, key, strict=True)), **values}
            for key, values in batch.signatures.items()
        ]
        insert = self._insert(connection, table)
        upsert = insert.on_conflict_do_update(
            index_elements=list(names),
            set_={
                "count": table.c.count + insert.excluded.count,
                "last_seen": insert.excluded.last_seen,
            },
        )
        connection.execute(upsert, rows)

    def _write_samples(self, connection: Connection, batch: _Batch) -> None:
        table = schema.samples
        rows = []
        for kept in batch.samples.values():
            for seen in kept:
                assert seen.sample is not None
                rows.append(
                    {
                        "route": seen.route,
                        "method": seen.method,
                        "outcome": seen.outcome,
                        "signature": seen.signature,
                        "at": seen.at,
                        "pid": seen.sample.pid,
                        "primary_side": seen.sample.primary_side,
                        "request": json.dumps(seen.sample.request),
                        "differences": json.dumps(seen.sample.differences),
                        "rules": json.dumps(seen.sample.rules),
                    }
                )
        connection.execute(table.insert(), rows)
        for key in batch.samples:
            connection.execute(self._older_samples(key))

    def _older_samples(self, key: tuple[str, str, str, str]) -> Any:
        table = schema.samples
        same = and_(
            table.c.route == key[0],
            table.c.method == key[1],
            table.c.outcome == key[2],
            table.c.signature == key[3],
        )
        newest = (
            select(table.c.id)
            .where(same)
            .order_by(table.c.id.desc())
            .limit(self.samples_per_signature)
        )
        return delete(table).where(same, table.c.id.not_in(newest.scalar_subquery()))

    def _write_entries(self, connection: Connection, loaded: list[EntryLoaded]) -> None:
        table = schema.entries
        rows = [
            {
                "route": entry.route,
                "methods": entry.methods,
                "options_hash": entry.options_hash,
                "changed_at": entry.at,
                "loaded_at": entry.at,
            }
            for entry in loaded
        ]
        insert = self._insert(connection, table)
        upsert = insert.on_conflict_do_update(
            index_elements=["route", "methods"],
            set_={
                "options_hash": insert.excluded.options_hash,
                "loaded_at": insert.excluded.loaded_at,
                # Unchanged options keep the time they were first loaded.
                "changed_at": case(
                    (table.c.options_hash == insert.excluded.options_hash, table.c.changed_at),
                    else_=insert.excluded.changed_at,
                ),
            },
        )
        connection.execute(upsert, rows)
