"""Facts of a request that a routing behaviour may decide on: headers, cookies, query
parameters, and keys of the legacy app's signed Flask session.

The session is read with Flask's own serializer and the legacy app's secret key, so a forged,
tampered or expired cookie gives no fact at all, never a value chosen by the client.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any, Literal
from urllib.parse import parse_qsl

from starlette.requests import cookie_parser
from starlette.types import Scope

from gateway.routing.endpoints import unwrap

FactKind = Literal["header", "cookie", "query", "session"]
FACT_KINDS: tuple[FactKind, ...] = ("header", "cookie", "query", "session")

# Reads the legacy app's signed session cookie: the cookie's name, and a function from its value
# to the session's contents (None when the signature does not verify).
SessionReader = tuple[str, Callable[[str], Mapping[str, Any] | None]]


class RequestFacts:
    """The facts of one request, each read when first asked for."""

    def __init__(self, scope: Scope, session: SessionReader | None) -> None:
        self.scope = scope
        self.session_reader = session
        self._cookies: dict[str, str] | None = None
        self._query: list[tuple[str, str]] | None = None
        self._session: Mapping[str, Any] | None = None
        self._session_read = False

    def values(self, kind: FactKind, name: str) -> list[str]:
        """Every value the request gives for a fact (a header or parameter may repeat)."""
        if kind == "header":
            return [value.decode("latin-1") for value in self.headers(name.lower().encode())]
        if kind == "cookie":
            cookie = self.cookies().get(name)
            return [] if cookie is None else [cookie]
        if kind == "query":
            return [value for key, value in self.query() if key == name]
        session = self.session()
        if session is None or name not in session:
            return []
        return [fact_text(session[name])]

    def headers(self, name: bytes) -> list[bytes]:
        return [bytes(value) for key, value in self.scope["headers"] if key == name]

    def cookies(self) -> dict[str, str]:
        if self._cookies is None:
            self._cookies = {}
            for header in self.headers(b"cookie"):
                self._cookies.update(cookie_parser(header.decode("latin-1")))
        return self._cookies

    def query(self) -> list[tuple[str, str]]:
        if self._query is None:
            raw: bytes = self.scope.get("query_string", b"")
            self._query = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
        return self._query

    def session(self) -> Mapping[str, Any] | None:
        if not self._session_read:
            self._session_read = True
            if self.session_reader is not None:
                cookie_name, read = self.session_reader
                cookie = self.cookies().get(cookie_name)
                self._session = read(cookie) if cookie else None
        return self._session


def fact_text(value: Any) -> str:
    """A fact's value as the text rules compare it with: YAML's `true` and JSON's `true` alike."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def flask_session_reader(app: object) -> SessionReader | None:
    """A SessionReader using the Flask app's own serializer and secret, if `app` is Flask."""
    flask_app = _flask_app(app)
    if flask_app is None:
        return None
    # Server-side sessions (Flask-Session) keep only an id in the cookie: nothing to read here.
    signing_serializer = getattr(flask_app.session_interface, "get_signing_serializer", None)
    serializer = signing_serializer(flask_app) if signing_serializer is not None else None
    if serializer is None:  # no secret key: the app has no signed sessions
        return None
    max_age = int(flask_app.permanent_session_lifetime.total_seconds())
    cookie_name = flask_app.config["SESSION_COOKIE_NAME"]

    def read(value: str) -> Mapping[str, Any] | None:
        try:
            contents = serializer.loads(value, max_age=max_age)
        except Exception:  # itsdangerous' BadSignature, bad base64, bad JSON: no session
            return None
        return contents if isinstance(contents, Mapping) else None

    return cookie_name, read


def _flask_app(app: object) -> Any:
    if "flask" not in sys.modules:  # a Flask app imported it; other apps never need Flask
        return None
    from flask import Flask

    for candidate in unwrap(app):
        if isinstance(candidate, Flask):
            return candidate
    return None
