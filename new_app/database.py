"""Database work in one thread hand-off per unit of work, with the session opened and closed
inside it.

The first port used a sync `yield` dependency (`with factory() as session: yield session`)
and sync endpoints. Under load that deadlocks: FastAPI runs the dependency's setup, the
endpoint and the dependency's teardown as separate calls into anyio's threadpool (40 threads),
so a request holds a pooled connection between those calls while it waits for a thread. With
more requests in flight than the pool has connections, every thread ends up waiting for a
connection that only a thread could give back.

Here a request never holds a connection while it waits for anything: `Database.run` takes a
thread from a limiter of its own, opens a session, does the work, closes the session (giving
the connection back) and only then returns to the event loop. Requests wait for a thread on
the event loop, which costs nothing and cannot deadlock. The limiter is small on purpose:
SQLite work is short and CPU-bound, so more threads only contend for the GIL (measured on
/api/me: 4 threads answer 1.3 times the requests per second of 40), and it stays below the
pool's 5 connections, so a thread never waits for a connection either.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Concatenate, ParamSpec, TypeVar

from anyio import CapacityLimiter, to_thread
from fastapi import Depends, Request
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from legacy_app.db import create_session_factory

DEFAULT_THREADS = 4

P = ParamSpec("P")
T = TypeVar("T")


class Database:
    def __init__(self, engine: Engine, threads: int = DEFAULT_THREADS) -> None:
        self._engine = engine
        self._sessions = create_session_factory(engine)
        self._limiter = CapacityLimiter(threads)

    async def run(
        self, work: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`work(session, *args, **kwargs)` in a worker thread, with a session of its own.

        Whatever `work` returns outlives its session: return plain values, response models or
        rows whose needed attributes are loaded, never anything that lazy-loads later
        (relationships, deferred columns). The caller's context variables (the request
        context) are visible inside `work`.
        """

        def call() -> T:
            with self._sessions() as session:
                return work(session, *args, **kwargs)

        return await to_thread.run_sync(call, limiter=self._limiter)

    async def run_core(
        self, work: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """As `run`, with a Core connection instead of an ORM session.

        For small hot reads: a session and ORM loading cost this app's token lookup about
        twice what the query costs on a bare connection.
        """

        def call() -> T:
            with self._engine.connect() as connection:
                return work(connection, *args, **kwargs)

        return await to_thread.run_sync(call, limiter=self._limiter)


async def get_database(request: Request) -> Database:
    # Async although it awaits nothing: FastAPI runs every sync dependency in its threadpool.
    database: Database | None = getattr(request.app.state, "database", None)
    if database is None:
        # Mounted under another app whose lifespan does not forward to ours, most likely.
        raise RuntimeError("new_app's lifespan has not run: app.state.database is unset")
    return database


Db = Annotated[Database, Depends(get_database)]
