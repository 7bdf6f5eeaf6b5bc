from __future__ import annotations

import secrets

from flask import Blueprint, Response, abort, jsonify
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from legacy_app import audit
from legacy_app.db import get_row
from legacy_app.dbsession import get_db
from legacy_app.models import EMAIL_MAX_LENGTH, NAME_MAX_LENGTH, ROLES, User
from legacy_app.pagination import paginate
from legacy_app.permissions import current_user, is_staff, require_role
from legacy_app.serializers import user_to_dict
from legacy_app.validation import check_choice, check_string, invalid, json_object, required

bp = Blueprint("users", __name__)

PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 1024


@bp.get("/me")
def me() -> Response:
    return jsonify(user_to_dict(current_user()))


@bp.get("/users")
def list_users() -> Response:
    require_role("admin", "agent")
    return jsonify(paginate(get_db(), select(User).order_by(User.id), user_to_dict))


@bp.get("/users/<int:user_id>")
def get_user(user_id: int) -> Response:
    if not is_staff() and user_id != current_user().id:
        abort(403, "Customers can only view their own user")
    user = get_row(get_db(), User, user_id)
    if user is None:
        abort(404, f"User {user_id} not found")
    return jsonify(user_to_dict(user))


@bp.post("/users")
def create_user() -> tuple[Response, int, dict[str, str]]:
    require_role("admin")
    data = json_object()
    email = _check_email(required(data, "email"))
    name = check_string(required(data, "name"), "name", min_length=1, max_length=NAME_MAX_LENGTH)
    role = check_choice(required(data, "role"), "role", ROLES)
    password = _check_password(data.get("password"))
    session = get_db()
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        abort(409, f"A user with email {email} already exists")
    user = User(email=email, name=name, role=role, api_token=secrets.token_urlsafe(24))
    if password is not None:
        user.password_hash = generate_password_hash(password)
    session.add(user)
    session.flush()
    audit.record("user.create", f"user:{user.id}")
    session.commit()
    # The only time the token is shown: the admin hands it to the new user.
    body = {**user_to_dict(user), "api_token": user.api_token}
    return jsonify(body), 201, {"Location": f"/api/users/{user.id}"}


def _check_email(value: object) -> str:
    email = check_string(value, "email", min_length=1, max_length=EMAIL_MAX_LENGTH).lower()
    local, _, domain = email.partition("@")
    if not local or "." not in domain:
        invalid("email", "must be a valid email address")
    return email


def _check_password(value: object) -> str | None:
    if value is None:
        return None
    return check_string(
        value, "password", min_length=PASSWORD_MIN_LENGTH, max_length=PASSWORD_MAX_LENGTH
    )
