"""Who is calling: the legacy `X-Token` header, else the legacy Flask session cookie."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from legacy_app.db import get_row
from legacy_app.models import User
from legacy_app.settings import Settings
from new_app.database import get_database
from new_app.errors import ApiError
from new_app.legacy_session import LegacySessionReader
from new_app.session_vary import mark_session_read


async def authenticate(request: Request) -> User:
    """401 unless authenticated; an X-Token header wins over the cookie, as in the legacy app.

    A plain function, not a dependency with `Header()` and `Db` parameters of its own: FastAPI
    resolves every dependency afresh on each request, and that chain cost /api/me about a
    sixth of its time.
    """
    db = await get_database(request)
    x_token = request.headers.get("x-token")
    if x_token is not None:
        user = await db.run(_user_by_token, x_token)
        if user is None:
            raise ApiError(401, "Invalid API token")
        return user
    mark_session_read(request)
    user_id = _session_reader(request).user_id(request.cookies.get(_cookie_name(request)))
    session_user = await db.run(get_row, User, user_id) if user_id is not None else None
    if session_user is None:
        raise ApiError(401, "Authentication required")
    return session_user


def _user_by_token(db: Session, token: str) -> User | None:
    return db.scalar(select(User).where(User.api_token == token))


def _session_reader(request: Request) -> LegacySessionReader:
    reader: LegacySessionReader = request.app.state.legacy_sessions
    return reader


def _cookie_name(request: Request) -> str:
    settings: Settings = request.app.state.settings
    return settings.session_cookie_name
