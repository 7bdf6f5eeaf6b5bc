"""Flask-Login's user on the new side: loaded by the app's own loaders, refused as the app's
`login_required` refuses, logged in and out with the same effect on the cookies."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from fastapi import Depends, FastAPI
from flask import Flask
from flask_login import LoginManager

from gateway.compat.flask import LegacyState, LegacyStateMiddleware
from gateway.compat.flask.login import NoLoginManager, find_login
from tests.compat.inprocess import set_cookies, through_gateway
from tests.compat.pair_apps import PASSWORD, USERS, Pair, create_pair


async def log_in(client: httpx.AsyncClient, name: str, remember: bool = False) -> None:
    form = {"name": name, "password": PASSWORD, "remember": "yes" if remember else "no"}
    response = await client.post("/login", data=form)
    assert response.json() == {"user": name}


def test_a_legacy_login_is_the_new_sides_current_user(pair: Pair, tmp_path: Path) -> None:
    async def steps(client: httpx.AsyncClient) -> list[object]:
        await log_in(client, "bob")
        return [(await client.get(path)).json() for path in ("/new/whoami", "/new/optional")]

    assert through_gateway(pair.flask_app, pair.app, tmp_path, steps) == [
        {"user": "bob"},
        {"user": "bob"},
    ]


def test_anonymous_is_answered_as_login_required_answers(pair: Pair, tmp_path: Path) -> None:
    async def steps(client: httpx.AsyncClient) -> tuple[httpx.Response, httpx.Response]:
        return await client.get("/me"), await client.get("/new/whoami")

    legacy, new = through_gateway(pair.flask_app, pair.app, tmp_path, steps)
    assert new.status_code == legacy.status_code == 401
    assert new.json() == legacy.json() == {"error": "unauthorized"}
    assert new.headers["content-type"] == legacy.headers["content-type"]
    assert new.headers.get("vary") == legacy.headers.get("vary")


def test_with_a_login_view_anonymous_is_redirected_there_as_flask_does(tmp_path: Path) -> None:
    pair = create_pair({"PAIR_LOGIN_VIEW": "login"})

    async def steps(client: httpx.AsyncClient) -> tuple[httpx.Response, httpx.Response]:
        return await client.get("/me"), await client.get("/new/whoami")

    legacy, new = through_gateway(pair.flask_app, pair.app, tmp_path, steps)
    assert new.status_code == legacy.status_code == 302
    assert legacy.headers["location"] == "/login?next=%2Fme"
    assert new.headers["location"] == "/login?next=%2Fnew%2Fwhoami"
    # Flask-Login flashed its message into the session: saved onto the redirect.
    assert set_cookies(new) == set_cookies(legacy) != {}


def test_the_request_loader_authenticates_the_new_side_too(pair: Pair, tmp_path: Path) -> None:
    async def steps(client: httpx.AsyncClient) -> list[object]:
        key = {"X-Api-Key": "key-of-carol"}
        return [(await client.get(path, headers=key)).json() for path in ("/me", "/new/whoami")]

    assert through_gateway(pair.flask_app, pair.app, tmp_path, steps) == [{"user": "carol"}] * 2


def test_a_login_on_the_new_side_is_the_legacy_sides_user(pair: Pair, tmp_path: Path) -> None:
    async def steps(client: httpx.AsyncClient) -> None:
        logged_in = await client.post("/new/login/alice")
        assert logged_in.json() == {"logged_in": True}
        assert set(set_cookies(logged_in)) == {"pair_session"}
        assert (await client.get("/me")).json() == {"user": "alice"}

    through_gateway(pair.flask_app, pair.app, tmp_path, steps)


def test_remember_me_sets_flask_logins_cookie_which_both_sides_honour(
    pair: Pair, tmp_path: Path
) -> None:
    async def steps(client: httpx.AsyncClient) -> tuple[httpx.Response, httpx.Response]:
        legacy = await client.post(
            "/login", data={"name": "bob", "password": PASSWORD, "remember": "yes"}
        )
        client.cookies.clear()
        new = await client.post("/new/login/bob", params={"remember": "true"})
        remember = client.cookies["remember_token"]
        for path in ("/me", "/new/whoami"):
            # The session gone (a closed browser), the remember cookie alone logs bob in.
            client.cookies.clear()
            client.cookies["remember_token"] = remember
            assert (await client.get(path)).json() == {"user": "bob"}
        return legacy, new

    legacy, new = through_gateway(pair.flask_app, pair.app, tmp_path, steps)
    assert set_cookies(new) == set_cookies(legacy)
    assert set(set_cookies(new)) == {"pair_session", "remember_token"}


def test_a_logout_on_the_new_side_logs_out_on_both(pair: Pair, tmp_path: Path) -> None:
    async def steps(client: httpx.AsyncClient) -> httpx.Response:
        await log_in(client, "alice", remember=True)
        await client.post("/new/theme/dark")
        logged_out = await client.post("/new/logout")
        assert logged_out.json() == {"logged_out": True}
        assert (await client.get("/me")).status_code == 401
        assert (await client.get("/new/whoami")).status_code == 401
        # What the user had in the session besides the login stays, as with Flask-Login.
        assert (await client.get("/session")).json() == {"theme": "dark"}
        return logged_out

    logged_out = through_gateway(pair.flask_app, pair.app, tmp_path, steps)
    assert "Max-Age=0" in set_cookies(logged_out)["remember_token"]


def test_a_login_is_seen_by_legacy_run_in_the_same_request(pair: Pair, tmp_path: Path) -> None:
    async def steps(client: httpx.AsyncClient) -> object:
        return (await client.post("/new/login-and-describe/carol")).json()["user"]

    assert through_gateway(pair.flask_app, pair.app, tmp_path, steps) == "carol"


def test_an_app_without_flask_login_is_a_clear_error() -> None:
    legacy = LegacyState(Flask("no-login"))
    app = FastAPI()
    app.add_middleware(LegacyStateMiddleware)

    @app.get("/whoami")
    async def whoami(user: object = Depends(legacy.current_user)) -> None:
        pass

    async def main() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            await client.get("/whoami")

    with pytest.raises(NoLoginManager, match="'no-login' has no Flask-Login LoginManager"):
        asyncio.run(main())


class AppLoginManager(LoginManager):  # type: ignore[misc]
    """An app's own subclass, in a package that has none of Flask-Login's functions."""


def test_a_login_manager_subclassed_in_the_apps_package_is_flask_logins(
    tmp_path: Path,
) -> None:
    pair = create_pair()
    manager = AppLoginManager(pair.flask_app)
    manager.user_loader(USERS.get)

    async def steps(client: httpx.AsyncClient) -> object:
        await client.post("/new/login/bob")
        return (await client.get("/me")).json()

    assert through_gateway(pair.flask_app, pair.app, tmp_path, steps) == {"user": "bob"}


class Stranger:
    pass


def test_a_login_manager_from_nowhere_known_is_a_clear_error() -> None:
    app = Flask("odd")
    app.login_manager = Stranger()  # type: ignore[attr-defined]
    expected = r"\(Stranger, from tests.compat, builtins\) has current_user, login_required"
    with pytest.raises(NoLoginManager, match=expected):
        find_login(app)
