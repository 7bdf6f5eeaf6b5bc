"""Login by session cookie or by API token; `authenticate` guards everything under /api."""

from __future__ import annotations

from flask import Blueprint, Response, abort, g, jsonify, request, session
from sqlalchemy import select
from werkzeug.security import check_password_hash

from legacy_app import audit
from legacy_app.db import get_row
from legacy_app.dbsession import get_db
from legacy_app.models import EMAIL_MAX_LENGTH, User
from legacy_app.serializers import user_to_dict
from legacy_app.validation import check_string, json_object, required

bp = Blueprint("auth", __name__)

PASSWORD_MAX_LENGTH = 1024
SESSION_USER_KEY = "user_id"


def authenticate() -> None:
    """Put the caller on `g.user` or answer 401. An X-Token header wins over the cookie."""
    token = request.headers.get("X-Token")
    if token is not None:
        user = get_db().scalar(select(User).where(User.api_token == token))
        if user is None:
            abort(401, "Invalid API token")
    else:
        user = _session_user()
        if user is None:
            abort(401, "Authentication required")
    g.user = user


def _session_user() -> User | None:
    user_id = session.get(SESSION_USER_KEY)
    if not isinstance(user_id, int) or isinstance(user_id, bool):
        return None
    return get_row(get_db(), User, user_id)


@bp.post("/login")
def login() -> Response:
    data = json_object()
    email = check_string(required(data, "email"), "email", max_length=EMAIL_MAX_LENGTH)
    password = check_string(required(data, "password"), "password", max_length=PASSWORD_MAX_LENGTH)
    user = get_db().scalar(select(User).where(User.email == email.lower()))
    if user is None or not _password_matches(user, password):
        abort(401, "Invalid email or password")
    # A fresh session on login, so nothing set before authentication survives it.
    session.clear()
    session[SESSION_USER_KEY] = user.id
    g.user = user
    audit.record("user.login", f"user:{user.id}")
    get_db().commit()
    return jsonify(user_to_dict(user))


def _password_matches(user: User, password: str) -> bool:
    return user.password_hash is not None and check_password_hash(user.password_hash, password)


@bp.post("/logout")
def logout() -> tuple[str, int]:
    session.clear()
    return "", 204
