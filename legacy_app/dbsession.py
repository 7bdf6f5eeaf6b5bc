"""One SQLAlchemy session per request, kept on `g` and closed when the app context ends."""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from legacy_app.db import create_session_factory

_EXTENSION = "helpdesk.sessionmaker"


def init_app(app: Flask, engine: Engine) -> None:
    app.extensions[_EXTENSION] = create_session_factory(engine)
    app.teardown_appcontext(_close_session)


def get_db() -> Session:
    if "db_session" not in g:
        factory: sessionmaker[Session] = current_app.extensions[_EXTENSION]
        g.db_session = factory()
    session: Session = g.db_session
    return session


def _close_session(_exc: BaseException | None) -> None:
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        session.close()
