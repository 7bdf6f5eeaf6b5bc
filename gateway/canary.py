"""Canary weights with sticky cohorts.

A request's key (a header, a cookie, or a value in the legacy app's signed Flask session) is
hashed into one of 10,000 fixed buckets; buckets below `weight * 100` go to the new side. The
hash depends on the key alone, so any gateway process with the same table decides the same for
the same key, with no shared state. Raising the weight only adds buckets: a key never moves back
from new to legacy while the weight rises (monotonic cohorts, as NGINX's split_clients). The same
key lands in the same bucket on every route, so a client moved to the new side on one route at
25% is also on it on every other route at 25% or more, and sees one consistent version.
"""

from __future__ import annotations

import hashlib
import random
import sys
from collections.abc import Callable, Mapping
from typing import Any

from starlette.requests import cookie_parser
from starlette.types import Scope

from gateway.endpoints import unwrap
from gateway.route_options import RouteOptions, Side, Sticky

BUCKETS = 10_000

# Reads the legacy app's signed session cookie: the cookie's name, and a function from its value
# to the session's contents (None when the signature does not verify).
SessionReader = tuple[str, Callable[[str], Mapping[str, Any] | None]]


def bucket_of(key: bytes) -> int:
    digest = hashlib.blake2b(key, digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def _cookie(scope: Scope, name: str) -> str | None:
    header = _header(scope, b"cookie")
    if header is None:
        return None
    return cookie_parser(header.decode("latin-1")).get(name)


class CanaryChooser:
    def __init__(self, session: SessionReader | None, rng: random.Random | None = None) -> None:
        self.session = session
        self._random = rng or random.Random()

    def sticky_key(self, sticky: Sticky, scope: Scope) -> bytes | None:
        if sticky.kind == "header":
            return _header(scope, sticky.name.encode("latin-1")) or None
        if sticky.kind == "cookie":
            value = _cookie(scope, sticky.name)
            return value.encode("utf-8") if value else None
        if self.session is None:
            return None
        cookie_name, read = self.session
        cookie = _cookie(scope, cookie_name)
        contents = read(cookie) if cookie else None
        if not contents or sticky.name not in contents:
            return None
        return str(contents[sticky.name]).encode("utf-8")

    def choose(self, options: RouteOptions, scope: Scope) -> Side:
        threshold = round((options.weight or 0) * BUCKETS / 100)
        key = self.sticky_key(options.sticky, scope) if options.sticky is not None else None
        point = bucket_of(key) if key is not None else self._random.randrange(BUCKETS)
        return "new" if point < threshold else "legacy"


def flask_session_reader(app: object) -> SessionReader | None:
    """A SessionReader using the Flask app's own serializer and secret, if `app` is Flask."""
    flask_app = _flask_app(app)
    if flask_app is None:
        return None
    serializer = flask_app.session_interface.get_signing_serializer(flask_app)
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
