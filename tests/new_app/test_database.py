"""`Database.run`: one unit of work per thread hand-off, its connection back in the pool after."""

from __future__ import annotations

from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path

import anyio
import pytest
from sqlalchemy import Connection, Engine, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import QueuePool

from legacy_app.db import init_db
from legacy_app.models import User
from new_app.database import Database
from tests.helpdesk import sqlite_url

_probe: ContextVar[str] = ContextVar("probe")


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = init_db(sqlite_url(tmp_path / "helpdesk.db"))
    yield engine
    engine.dispose()


def checked_out(engine: Engine) -> int:
    pool = engine.pool
    assert isinstance(pool, QueuePool)
    return pool.checkedout()


def emails(db: Session, role: str) -> list[str]:
    return list(db.scalars(select(User.email).where(User.role == role).order_by(User.id)))


def test_run_returns_the_work_and_gives_the_connection_back(engine: Engine) -> None:
    async def main() -> list[str]:
        return await Database(engine).run(emails, "admin")

    assert anyio.run(main) == ["admin@example.com"]
    assert checked_out(engine) == 0


def test_an_error_in_the_work_reaches_the_caller_and_frees_the_connection(engine: Engine) -> None:
    def fail(db: Session) -> None:
        db.scalar(select(User.id).limit(1))
        raise LookupError("no such thing")

    async def main() -> None:
        await Database(engine).run(fail)

    with pytest.raises(LookupError, match="no such thing"):
        anyio.run(main)
    assert checked_out(engine) == 0


def test_run_core_gives_a_connection_and_takes_it_back(engine: Engine) -> None:
    def count_users(connection: Connection) -> int:
        return len(connection.execute(select(User.id)).all())

    async def main() -> int:
        return await Database(engine).run_core(count_users)

    assert anyio.run(main) == 5
    assert checked_out(engine) == 0


def test_the_work_sees_the_callers_context_variables(engine: Engine) -> None:
    def read_probe(_db: Session) -> str:
        return _probe.get()

    async def main() -> str:
        _probe.set("set by the request")
        return await Database(engine, threads=1).run(read_probe)

    assert anyio.run(main) == "set by the request"
