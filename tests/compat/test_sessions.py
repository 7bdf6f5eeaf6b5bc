"""`legacy.session`: the legacy app's own session, written by the new side and saved as Flask
saves it, whatever the endpoint returns."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask import Flask
from flask.sessions import SessionInterface, SessionMixin
from flask.wrappers import Request as FlaskRequest
from flask.wrappers import Response as FlaskResponse
from itsdangerous.timed import TimestampSigner
from werkzeug.datastructures import CallbackDict

from tests.compat.inprocess import set_cookies, through_gateway
from tests.compat.pair_apps import Pair, create_pair


def test_the_new_side_writes_the_session_the_legacy_side_reads(pair: Pair, tmp_path: Path) -> None:
    async def steps(client: httpx.AsyncClient) -> None:
        written = await client.post("/new/theme/dark")
        assert written.headers["x-gateway-side"] == "new"
        assert (await client.get("/session")).json() == {"theme": "dark"}
        assert (await client.post("/theme/light")).json() == {"theme": "light"}
        assert (await client.get("/new/theme")).json() == {"theme": "light"}

    through_gateway(pair.flask_app, pair.app, tmp_path, steps)


def test_the_cookie_has_the_attributes_flask_gives_it(tmp_path: Path) -> None:
    config = {
        "SESSION_COOKIE_SECURE": True,
        "SESSION_COOKIE_PATH": "/",
        "SESSION_COOKIE_DOMAIN": None,
    }
    pair = create_pair(config)

    async def steps(client: httpx.AsyncClient) -> tuple[dict[str, str], dict[str, str]]:
        new = await client.post("/new/theme/dark")
        legacy = await client.post("/theme/dark")
        return set_cookies(new), set_cookies(legacy)

    new, legacy = through_gateway(pair.flask_app, pair.app, tmp_path, steps)
    assert new == legacy == {"pair_session": "Secure; HttpOnly; Path=/; SameSite=Lax"}


def test_an_endpoints_own_response_gets_the_cookie_and_vary(pair: Pair, tmp_path: Path) -> None:
    async def steps(client: httpx.AsyncClient) -> httpx.Response:
        response = await client.post("/new/theme-response/dark")
        assert (await client.get("/session")).json() == {"theme": "dark"}
        return response

    response = through_gateway(pair.flask_app, pair.app, tmp_path, steps)
    assert response.status_code == 201
    assert "pair_session" in set_cookies(response)
    assert response.headers.get_list("vary") == ["Accept, Cookie"]


def test_vary_cookie_exactly_where_the_session_was_read(pair: Pair, tmp_path: Path) -> None:
    async def steps(client: httpx.AsyncClient) -> dict[str, list[str]]:
        return {
            path: (await client.get(path)).headers.get_list("vary")
            for path in ("/new/theme", "/session", "/new/health")
        }

    assert through_gateway(pair.flask_app, pair.app, tmp_path, steps) == {
        "/new/theme": ["Cookie"],
        "/session": ["Cookie"],
        "/new/health": [],
    }


@pytest.mark.parametrize("refresh", [True, False], ids=["refresh-each-request", "no-refresh"])
def test_a_permanent_session_is_refreshed_as_flask_refreshes_it(
    tmp_path: Path, refresh: bool
) -> None:
    pair = create_pair({"SESSION_REFRESH_EACH_REQUEST": refresh})

    async def steps(client: httpx.AsyncClient) -> list[dict[str, str]]:
        made = await client.post("/new/permanent")
        return [set_cookies(made)] + [
            set_cookies(await client.get(path)) for path in ("/session", "/new/theme")
        ]

    made, legacy_read, new_read = through_gateway(pair.flask_app, pair.app, tmp_path, steps)
    assert made == {"pair_session": "Expires; HttpOnly; Path=/; SameSite=Lax"}
    assert new_read == legacy_read == (made if refresh else {})


def signed_cookie(app: Flask, contents: dict[str, Any], age: float) -> str:
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    signed_at = int(time.time() - age)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(TimestampSigner, "get_timestamp", lambda _self: signed_at)
        return str(serializer.dumps(contents))


@pytest.mark.parametrize(
    "cookies",
    [
        pytest.param({"pair_session": "e30.not.signed"}, id="tampered-session"),
        pytest.param({"pair_session": "garbage"}, id="garbage-session"),
        pytest.param({"remember_token": "1|0123456789abcdef"}, id="tampered-remember"),
        pytest.param({"remember_token": "nobar"}, id="garbage-remember"),
        pytest.param("expired", id="expired-session"),
    ],
)
def test_tampered_or_expired_cookies_are_an_anonymous_user_on_both_sides(
    pair: Pair, tmp_path: Path, cookies: dict[str, str] | str
) -> None:
    if cookies == "expired":
        lifetime = pair.flask_app.permanent_session_lifetime.total_seconds()
        contents = {"_user_id": "1", "_fresh": True, "theme": "dark"}
        cookies = {"pair_session": signed_cookie(pair.flask_app, contents, lifetime + 60)}
        fresh = signed_cookie(pair.flask_app, contents, 0)
        # The same contents signed now: what makes the other one anonymous is its age alone.
        assert through_gateway(
            pair.flask_app,
            pair.app,
            tmp_path,
            lambda client: whoami(client, {"pair_session": fresh}),
        ) == {"/me": 200, "/new/whoami": 200, "/new/optional": "alice", "/new/theme": "dark"}
    assert isinstance(cookies, dict)
    answers = through_gateway(
        pair.flask_app, pair.app, tmp_path, lambda client: whoami(client, cookies)
    )
    assert answers == {"/me": 401, "/new/whoami": 401, "/new/optional": None, "/new/theme": None}


async def whoami(client: httpx.AsyncClient, cookies: dict[str, str]) -> dict[str, Any]:
    header = {"Cookie": "; ".join(f"{name}={value}" for name, value in cookies.items())}
    return {
        "/me": (await client.get("/me", headers=header)).status_code,
        "/new/whoami": (await client.get("/new/whoami", headers=header)).status_code,
        "/new/optional": (await client.get("/new/optional", headers=header)).json()["user"],
        "/new/theme": (await client.get("/new/theme", headers=header)).json()["theme"],
    }


class MemorySession(CallbackDict[str, Any], SessionMixin):
    def __init__(self, sid: str, initial: dict[str, Any] | None = None) -> None:
        def on_update(session: CallbackDict[str, Any]) -> None:
            self.modified = True

        super().__init__(initial, on_update)
        self.sid = sid
        self.modified = False


class MemorySessionInterface(SessionInterface):
    """Server-side sessions (as Flask-Session keeps them): the cookie holds an id only."""

    def __init__(self) -> None:
        self.store: dict[str, dict[str, Any]] = {}
        self.threads: set[str] = set()

    def open_session(self, app: Flask, request: FlaskRequest) -> MemorySession:
        self.threads.add(threading.current_thread().name)
        sid = request.cookies.get(self.get_cookie_name(app), "")
        if sid in self.store:
            return MemorySession(sid, self.store[sid])
        return MemorySession(f"sid-{len(self.store) + 1}")

    def save_session(self, app: Flask, session: SessionMixin, response: FlaskResponse) -> None:
        assert isinstance(session, MemorySession)
        self.threads.add(threading.current_thread().name)
        self.store[session.sid] = dict(session)
        if session.modified:
            response.set_cookie(self.get_cookie_name(app), session.sid, httponly=True)


def test_a_server_side_session_interface_is_used_in_worker_threads(tmp_path: Path) -> None:
    pair = create_pair()
    interface = MemorySessionInterface()
    pair.flask_app.session_interface = interface

    async def steps(client: httpx.AsyncClient) -> None:
        written = await client.post("/new/theme/dark")
        assert written.cookies["pair_session"] == "sid-1"
        assert (await client.get("/session")).json() == {"theme": "dark"}

    through_gateway(pair.flask_app, pair.app, tmp_path, steps)
    assert interface.store == {"sid-1": {"theme": "dark"}}
    # Opened and saved away from the event loop (the main thread, under asyncio.run).
    assert threading.main_thread().name not in interface.threads


def test_without_a_secret_key_the_session_is_flasks_null_session() -> None:
    pair = create_pair({"SECRET_KEY": None})

    async def main(method: str, path: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=pair.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.request(method, path)

    read = asyncio.run(main("GET", "/new/theme"))
    assert (read.json(), read.headers.get("set-cookie")) == ({"theme": None}, None)
    with pytest.raises(RuntimeError, match="no secret key was set"):
        asyncio.run(main("POST", "/new/theme/dark"))
