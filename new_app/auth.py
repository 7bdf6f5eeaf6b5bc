"""Who is calling: the legacy `X-Token` header, else the legacy Flask session cookie."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from sqlalchemy import Connection, bindparam, select

from legacy_app.db import MAX_ROW_ID
from legacy_app.models import User
from new_app.database import get_database
from new_app.errors import ApiError
from new_app.legacy import legacy_state

# Where the legacy login puts the user's id in the session.
SESSION_USER_KEY = "user_id"


@dataclass(frozen=True)
class Caller:
    """The authenticated user: the columns requests need, not a row bound to a session."""

    id: int
    email: str
    name: str
    role: str


# Built once with bind parameters: every request authenticates, and building and cache-keying
# a statement per request cost more than running it.
_CALLER = select(User.id, User.email, User.name, User.role)
_CALLER_BY_TOKEN = _CALLER.where(User.api_token == bindparam("token"))
_CALLER_BY_ID = _CALLER.where(User.id == bindparam("id"))


async def authenticate(request: Request) -> Caller:
    """401 unless authenticated; an X-Token header wins over the cookie, as in the legacy app.

    A plain function, not a dependency with `Header()` and `Db` parameters of its own: FastAPI
    resolves every dependency afresh on each request, and that chain cost /api/me about a
    sixth of its time.
    """
    db = await get_database(request)
    x_token = request.headers.get("x-token")
    if x_token is not None:
        caller = await db.run_core(_caller_by_token, x_token)
        if caller is None:
            raise ApiError(401, "Invalid API token")
        return caller
    # The legacy session, opened by the legacy app itself: a tampered or expired cookie is an
    # empty session there, so no user, as in Flask.
    session = await legacy_state(request).session(request)
    user_id = session.get(SESSION_USER_KEY)
    if not isinstance(user_id, int) or isinstance(user_id, bool):
        user_id = None
    session_caller = await db.run_core(_caller_by_id, user_id) if user_id is not None else None
    if session_caller is None:
        raise ApiError(401, "Authentication required")
    return session_caller


def _caller_by_token(connection: Connection, token: str) -> Caller | None:
    row = connection.execute(_CALLER_BY_TOKEN, {"token": token}).first()
    return Caller(*row) if row is not None else None


def _caller_by_id(connection: Connection, user_id: int) -> Caller | None:
    # The legacy get_row's guard: SQLite cannot bind integers past this, and no row has one.
    if not 0 < user_id <= MAX_ROW_ID:
        return None
    row = connection.execute(_CALLER_BY_ID, {"id": user_id}).first()
    return Caller(*row) if row is not None else None
