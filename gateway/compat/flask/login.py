"""The legacy app's Flask-Login: found through `app.login_manager`, imported only then.

The functions are taken from the package that defines the app's `LoginManager` class, not from
`flask_login` by name: some apps ship a fork of Flask-Login under their own package (calibreweb's
`cw_login`), whose `login_user` writes the keys their `LoginManager` reads.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Config, Flask
from flask.sessions import SessionMixin
from flask.wrappers import Response

from gateway.compat.versions import MIN_FLASK_LOGIN, require

_FUNCTIONS = ("current_user", "login_required", "login_user", "logout_user")


class NoLoginManager(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Login:
    manager: Any
    package: Any  # flask_login, or the fork the app's LoginManager comes from

    def user(self) -> Any:
        """Flask-Login's `current_user` for the request context pushed: loaded once per context
        by the app's user loader, request loader or remember cookie."""
        return self.package.current_user._get_current_object()

    def required(self, found: Callable[[Any], object]) -> object:
        """`found(user)`, under the app's own `login_required`: its answer when it refuses."""
        return self.package.login_required(lambda: found(self.user()))()

    def login_user(self, user: Any, **options: Any) -> bool:
        return bool(self.package.login_user(user, **options))

    def logout_user(self) -> bool:
        return bool(self.package.logout_user())

    def remember_cookie_due(self, session: SessionMixin, config: Config) -> bool:
        """Whether Flask-Login's `after_request` hook has anything to do on this response: it
        acts on what `login_user(remember=True)` and `logout_user` leave in the session, or on
        every response with REMEMBER_COOKIE_REFRESH_EACH_REQUEST (its own first test)."""
        if not hasattr(self.manager, "_update_remember_cookie"):
            return False
        return "_remember" in session or bool(config.get("REMEMBER_COOKIE_REFRESH_EACH_REQUEST"))

    def update_remember_cookie(self, response: Response) -> None:
        """Flask-Login sets or clears its remember cookie in that hook; called with the request
        context pushed, as Flask calls it."""
        update = getattr(self.manager, "_update_remember_cookie", None)
        if update is not None:
            update(response)


def find_login(app: Flask) -> Login | None:
    """The app's Flask-Login, or None when it has no LoginManager."""
    manager = getattr(app, "login_manager", None)
    if manager is None:
        return None
    # An app may subclass the LoginManager in its own package: the functions are in the
    # package of the first class up the hierarchy that has them.
    packages = [_package_of(cls) for cls in type(manager).__mro__]
    for package_name in packages:
        package = importlib.import_module(package_name)
        if all(hasattr(package, name) for name in _FUNCTIONS):
            if package_name == "flask_login":
                require("Flask-Login", MIN_FLASK_LOGIN)
            return Login(manager, package)
    raise NoLoginManager(
        f"no package of the legacy app's login manager ({type(manager).__qualname__}, from "
        f"{', '.join(packages)}) has {', '.join(_FUNCTIONS)}"
    )


def _package_of(cls: type) -> str:
    return cls.__module__.rpartition(".")[0] or cls.__module__


def no_login_manager(app: Flask) -> NoLoginManager:
    return NoLoginManager(
        f"the legacy app {app.name!r} has no Flask-Login LoginManager (app.login_manager): "
        "current_user, optional_user, login_user and logout_user need one"
    )
