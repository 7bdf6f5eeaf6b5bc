"""The /api blueprint: every child blueprint behind one authentication hook."""

from __future__ import annotations

from flask import Blueprint

from legacy_app import attachments, comments, events, tickets, users
from legacy_app.auth import authenticate


def create_api_blueprint() -> Blueprint:
    # A new parent per app: a blueprint object cannot take more children once registered.
    api = Blueprint("api", __name__, url_prefix="/api")
    # Runs for matched /api routes only: unknown paths are 404 and wrong methods 405, not 401.
    api.before_request(authenticate)
    for child in (users.bp, tickets.bp, comments.bp, attachments.bp, events.bp):
        api.register_blueprint(child)
    return api
