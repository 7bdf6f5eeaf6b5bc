"""Reads the legacy app's signed session cookie with Flask's own serializer and secret.

Decoding it by hand would mean re-implementing itsdangerous' key derivation, salt and
timestamp checks; any drift would silently log users out on one side only.
"""

from __future__ import annotations

from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature, URLSafeTimedSerializer

SESSION_USER_KEY = "user_id"


class LegacySessionReader:
    def __init__(self, secret_key: str) -> None:
        # Only a carrier for the settings Flask derives the serializer from; never served.
        flask_app = Flask(__name__)
        flask_app.secret_key = secret_key
        serializer = SecureCookieSessionInterface().get_signing_serializer(flask_app)
        if serializer is None:
            raise ValueError("the legacy session secret key must not be empty")
        self._serializer: URLSafeTimedSerializer = serializer
        # What Flask's open_session() passes, so cookies expire at the same age on both sides.
        self._max_age = int(flask_app.permanent_session_lifetime.total_seconds())

    def user_id(self, cookie: str | None) -> int | None:
        if not cookie:
            return None
        try:
            data = self._serializer.loads(cookie, max_age=self._max_age)
        except BadSignature:
            # Flask treats a tampered or expired cookie as an empty session, not as an error.
            return None
        user_id = data.get(SESSION_USER_KEY) if isinstance(data, dict) else None
        if not isinstance(user_id, int) or isinstance(user_id, bool):
            return None
        return user_id
