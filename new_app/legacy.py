"""The legacy Flask app's state, shared with it through `gateway.compat.flask`.

Who is logged in lives in the legacy app's session cookie. Rather than re-creating Flask's
signed-cookie serializer (any drift would log users out on one side only), the rewrite opens
the session with the legacy app's own `session_interface`, and saves it the same way (`Vary:
Cookie` included) through `LegacyStateMiddleware`. The legacy app is never called to answer a
request here: only its session machinery is used.
"""

from __future__ import annotations

from fastapi import Request
from flask import Flask

from gateway.compat.flask import LegacyState
from legacy_app.settings import Settings


def served_legacy_app() -> Flask:
    """The legacy app object itself: `gateway serve` imports `legacy_app.wsgi:app` too, so
    when both apps run in one gateway process they share this one object."""
    from legacy_app.wsgi import app

    return app


def legacy_app_for(settings: Settings) -> Flask:
    """The legacy app as it would be configured with these settings (tests, embedding)."""
    from legacy_app import create_app

    return create_app(
        {
            "DATABASE_URL": settings.database_url,
            "SECRET_KEY": settings.secret_key,
            "SESSION_COOKIE_NAME": settings.session_cookie_name,
        }
    )


def legacy_state(request: Request) -> LegacyState:
    state: LegacyState = request.app.state.legacy
    return state
