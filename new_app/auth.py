"""Who is calling: the legacy `X-Token` header, else the legacy Flask session cookie."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Request
from sqlalchemy import select

from legacy_app.db import get_row
from legacy_app.models import User
from legacy_app.settings import Settings
from new_app.database import DbSession
from new_app.errors import ApiError
from new_app.legacy_session import LegacySessionReader


def load_current_user(
    request: Request,
    db: DbSession,
    x_token: Annotated[str | None, Header()] = None,
) -> User:
    """401 unless authenticated; an X-Token header wins over the cookie, as in the legacy app."""
    if x_token is not None:
        user = db.scalar(select(User).where(User.api_token == x_token))
        if user is None:
            raise ApiError(401, "Invalid API token")
        return user
    user_id = _session_reader(request).user_id(request.cookies.get(_cookie_name(request)))
    session_user = get_row(db, User, user_id) if user_id is not None else None
    if session_user is None:
        raise ApiError(401, "Authentication required")
    return session_user


def _session_reader(request: Request) -> LegacySessionReader:
    reader: LegacySessionReader = request.app.state.legacy_sessions
    return reader


def _cookie_name(request: Request) -> str:
    settings: Settings = request.app.state.settings
    return settings.session_cookie_name
