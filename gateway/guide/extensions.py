"""What the common Flask extensions do with request-local state, for names a view uses from them.

The analysis never reads an extension's code (it stops at the application's package). Where a
view uses a name of an extension it knows, the effect of that name is added as if the view had
done it: Flask-Login's `current_user` reads `_user_id` from the session, `login_required` can
answer 401, `flash` writes `_flashes`. A name of an extension it does not know is still listed
under the extension's name, so a reader sees what the view depends on.

An extension is a module that is not the application's, named `flask_*` (or `flaskext.*`), a
`flask*` submodule of another package (`webargs.flaskparser`), or shipped by a distribution that
requires Flask.
"""

from __future__ import annotations

import functools
import importlib.metadata
import re
from dataclasses import dataclass

# Flask itself: its names are facts of their own (proxies, abort), or plain library calls.
_FLASK_ITSELF = frozenset({"flask", "werkzeug", "jinja2", "itsdangerous", "click", "markupsafe"})


@dataclass(frozen=True, slots=True)
class Effect:
    """What using a name means for the endpoint: session keys, statuses, request attributes."""

    session_reads: tuple[str, ...] = ()
    session_writes: tuple[str, ...] = ()
    aborts: tuple[int, ...] = ()
    request: tuple[str, ...] = ()


# Flask-Login keeps the user's id in `_user_id`; `login_user` also stores the freshness, the
# session identifier and the remember flag, `logout_user` pops them. `login_required` answers
# 401, or redirects (302) to the login view when the app sets one: gateway.guide.inventory
# decides which, from the app's LoginManager.
_LOGIN_KEYS = ("_fresh", "_id", "_remember", "_remember_seconds", "_user_id")
_USER = ("_remember", "_user_id")  # loading the user: from the session, else the cookie
_FLASK_LOGIN = {
    "current_user": Effect(session_reads=_USER, request=("cookies",)),
    "login_required": Effect(session_reads=_USER, request=("cookies",)),
    "fresh_login_required": Effect(session_reads=("_fresh", *_USER), request=("cookies",)),
    "login_user": Effect(session_writes=_LOGIN_KEYS),
    "logout_user": Effect(session_reads=("_remember",), session_writes=_LOGIN_KEYS),
    "confirm_login": Effect(session_writes=("_fresh",)),
    "login_fresh": Effect(session_reads=("_fresh",)),
}
# Flask-JWT-Extended reads the token from headers (or cookies, query, JSON, per configuration);
# a missing token is 401, an invalid one 422 (its default error handlers).
_JWT = Effect(aborts=(401, 422), request=("cookies", "headers"))
_FLASK_JWT = {
    "jwt_required": _JWT,
    "verify_jwt_in_request": _JWT,
    "fresh_jwt_required": _JWT,
    "jwt_optional": Effect(aborts=(422,), request=("cookies", "headers")),
}
# Flask-HTTPAuth: `auth.login_required` answers 401 (403 when a role is refused).
_FLASK_HTTPAUTH = {"login_required": Effect(aborts=(401, 403), request=("authorization",))}
# Flask-WTF: a form's CSRF token lives in the session (written when first generated); a
# submitted form is read from the request, and a bad token is 400.
_CSRF = Effect(session_reads=("csrf_token",), session_writes=("csrf_token",))
_FLASK_WTF = {
    "FlaskForm": Effect(
        session_reads=("csrf_token",), session_writes=("csrf_token",), request=("files", "form")
    ),
    "Form": Effect(session_reads=("csrf_token",), session_writes=("csrf_token",)),
    "generate_csrf": _CSRF,
    "csrf_token": _CSRF,
    "validate_csrf": Effect(session_reads=("csrf_token",), aborts=(400,)),
    "csrf_protect": Effect(session_reads=("csrf_token",), aborts=(400,), request=("form",)),
}
_FLASK = {
    # flash() appends to the session's `_flashes`; get_flashed_messages() pops it.
    "flash": Effect(session_reads=("_flashes",), session_writes=("_flashes",)),
    "get_flashed_messages": Effect(session_reads=("_flashes",), session_writes=("_flashes",)),
}
KNOWN: dict[str, dict[str, Effect]] = {
    "flask": _FLASK,
    "flask_login": _FLASK_LOGIN,
    "flask_jwt_extended": _FLASK_JWT,
    "flask_httpauth": _FLASK_HTTPAUTH,
    "flask_wtf": _FLASK_WTF,
}
LOGIN_REQUIRED = frozenset({"login_required", "fresh_login_required"})
# Methods of Flask-SQLAlchemy's query and session objects that answer 404 on no result.
NOT_FOUND_METHODS = frozenset({"get_or_404", "first_or_404", "one_or_404", "paginate"})

# Hooks extensions register on the app, by (top-level module, qualname): what they do.
# Flask-Login's after_request hook sets or clears the remember cookie from the session's flag.
KNOWN_HOOKS: dict[tuple[str, str], tuple[str, Effect]] = {
    ("flask_login", "LoginManager._update_remember_cookie"): (
        "remember cookie",
        Effect(
            session_reads=("_remember", "_remember_seconds", "_user_id"),
            session_writes=("_remember",),
        ),
    ),
    ("flask_login", "_user_context_processor"): (
        "current_user",
        _FLASK_LOGIN["current_user"],
    ),
    # Its context processor puts `csrf_token()` in templates (which write the token when used).
    ("flask_wtf", "CSRFProtect.init_app.<locals>.<lambda>"): ("csrf_token", Effect()),
    ("flask_wtf", "CSRFProtect.init_app.<locals>.csrf_protect"): (
        "csrf_protect",
        _FLASK_WTF["csrf_protect"],
    ),
}


def effect(extension: str, name: str) -> Effect | None:
    """The known effect of `name` used from `extension` (a top-level module name)."""
    if name in NOT_FOUND_METHODS and extension.startswith("flask_sqlalchemy"):
        return Effect(aborts=(404,))
    return KNOWN.get(extension, {}).get(name)


def extension_name(module: str) -> str | None:
    """The extension `module` belongs to (its top-level name), or None when it is none."""
    top = module.partition(".")[0]
    if top in _FLASK_ITSELF or not top:
        return None
    if top.startswith(("flask_", "flaskext")):
        return top
    if any(part.startswith("flask") for part in module.split(".")[1:]):
        return top
    return top if _requires_flask(top) else None


@functools.cache
def _requires_flask(top: str) -> bool:
    for distribution in _distributions().get(top, ()):
        try:
            requirements = importlib.metadata.requires(distribution) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for requirement in requirements:
            name = re.split(r"[\s;<>=!~\[(]", requirement, maxsplit=1)[0]
            if name.lower() == "flask" and "extra ==" not in requirement:
                return True
    return False


@functools.cache
def _distributions() -> dict[str, list[str]]:
    return dict(importlib.metadata.packages_distributions())
