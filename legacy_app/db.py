"""Engine creation and first-start initialisation, free of Flask so the rewrite can share it."""

from __future__ import annotations

import logging
import sqlite3
from typing import TypeVar

from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

from legacy_app.models import Base, User
from legacy_app.seed import seed_demo_data

logger = logging.getLogger(__name__)

# SQLite raises OverflowError when binding integers outside this range, so ids beyond it are
# simply not found rather than a 500.
MAX_ROW_ID = 2**63 - 1

ModelT = TypeVar("ModelT", bound=Base)


def create_db_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url)
    # Flask and FastAPI both hand a session to several threads over its life.
    options: dict[str, object] = {"connect_args": {"check_same_thread": False}}
    if parsed.database in (None, "", ":memory:"):
        # An in-memory database lives in one connection: share it or every session sees nothing.
        options["poolclass"] = StaticPool
    engine = create_engine(url, **options)
    event.listen(engine, "connect", _enable_sqlite_foreign_keys)
    return engine


def _enable_sqlite_foreign_keys(
    dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry
) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_session_factory(engine: Engine) -> sessionmaker[Session]:
    # Views serialise objects after commit; expiring them would mean a reload per attribute.
    return sessionmaker(engine, expire_on_commit=False)


def init_db(url: str) -> Engine:
    """Create the tables and, on first start only (no users yet), the demo data."""
    engine = create_db_engine(url)
    _create_tables(engine)
    with Session(engine) as session:
        if session.scalar(select(User.id).limit(1)) is not None:
            return engine
        try:
            seed_demo_data(session)  # flushes: a row another process wrote raises here too
            session.commit()
        except IntegrityError:
            # Another process (the other app, a second worker, a parallel test process that
            # imports the app) seeded the same file first.
            session.rollback()
            logger.info("demo data already present in %s", _display(url))
    return engine


def _create_tables(engine: Engine) -> None:
    try:
        Base.metadata.create_all(engine)
    except OperationalError:
        # Both apps, or several workers, started on one new file: another process created a
        # table between our existence check and our CREATE. A second pass finds them all.
        Base.metadata.create_all(engine)


def _display(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def get_row(session: Session, model: type[ModelT], row_id: int) -> ModelT | None:
    if not 0 < row_id <= MAX_ROW_ID:
        return None
    return session.get(model, row_id)
