"""A help-desk API (users, tickets, comments, attachments) written the classic Flask way."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask

from legacy_app.db import init_db
from legacy_app.settings import Settings

# Room for multipart boundaries and headers on top of the file itself; past this, Werkzeug
# refuses the body before the upload view can give its own, more precise 413.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


def create_app(config: Mapping[str, object] | None = None) -> Flask:
    """Build the app. `config` overrides Flask config keys, including DATABASE_URL,
    SECRET_KEY and MAX_UPLOAD_BYTES, which otherwise come from HELPDESK_* variables."""
    # Imported here, as in Flask's tutorial: `import legacy_app.models` (which the FastAPI
    # rewrite does) then loads no views, blueprints or Flask request machinery.
    from legacy_app import auth, dbsession, errors, health
    from legacy_app.api import create_api_blueprint

    app = Flask(__name__)
    _configure(app, Settings.from_env(), config or {})
    dbsession.init_app(app, init_db(app.config["DATABASE_URL"]))
    errors.init_app(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(create_api_blueprint())
    return app


def _configure(app: Flask, settings: Settings, overrides: Mapping[str, object]) -> None:
    app.config.from_mapping(
        DATABASE_URL=settings.database_url,
        SECRET_KEY=settings.secret_key,
        MAX_UPLOAD_BYTES=settings.max_upload_bytes,
        SESSION_COOKIE_NAME=settings.session_cookie_name,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    app.config.update(overrides)
    app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_UPLOAD_BYTES"] + MULTIPART_OVERHEAD_BYTES
