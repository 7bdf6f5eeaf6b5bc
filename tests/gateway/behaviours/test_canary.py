from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.sessions import SessionInterface
from prometheus_client import CollectorRegistry
from starlette.types import ASGIApp, Message

from gateway.app import create_app
from gateway.behaviours.canary import BUCKETS, CanaryChooser, CanaryOptions, Sticky, bucket_of
from gateway.behaviours.facts import flask_session_reader
from gateway.settings import GatewaySettings
from gateway.wsgi import WSGIBridge
from tests.servers import SAMPLE_LEGACY, SAMPLE_NEW


def scope(**headers: str) -> dict[str, Any]:
    return {"headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]}


def canary(weight: float, sticky: str | None = None) -> CanaryOptions:
    return CanaryOptions.model_validate({"target": "canary", "weight": weight, "sticky": sticky})


@pytest.mark.parametrize("weight", [10, 25, 50])
def test_proportions_over_ten_thousand_keys(weight: int) -> None:
    chooser = CanaryChooser(None)
    options = canary(weight, "header:x-user")
    new = sum(chooser.choose(options, scope(x_user=f"user-{n}")) == "new" for n in range(10_000))
    assert abs(new / 10_000 - weight / 100) < 0.02


def test_raising_the_weight_never_moves_a_key_back() -> None:
    chooser = CanaryChooser(None)
    keys = [f"user-{n}" for n in range(5_000)]
    previous: set[str] = set()
    for weight in (0, 5, 10, 25, 50, 75, 100):
        options = canary(weight, "cookie:uid")
        on_new = {k for k in keys if chooser.choose(options, scope(cookie=f"uid={k}")) == "new"}
        assert previous <= on_new
        previous = on_new
    assert previous == set(keys)


def test_same_decision_everywhere_for_a_key() -> None:
    # Nothing random, nothing per process: a fresh chooser, a fresh random source.
    a, b = CanaryChooser(None, random.Random(1)), CanaryChooser(None, random.Random(2))
    options = canary(30, "header:x-user")
    for n in range(1_000):
        request = scope(x_user=str(n))
        assert a.choose(options, request) == b.choose(options, request)
    assert bucket_of(b"user-42") == bucket_of(b"user-42") < BUCKETS


def test_requests_without_a_key_are_drawn_one_by_one() -> None:
    chooser = CanaryChooser(None, random.Random(3))
    options = canary(50, "header:x-user")
    sides = [chooser.choose(options, scope()) for _ in range(2_000)]
    assert 0.45 < sides.count("new") / 2_000 < 0.55


def test_flask_session_key_is_read_with_flasks_own_serializer() -> None:
    app = Flask("sticky")
    app.secret_key = "s3cret"

    @app.post("/login/<uid>")
    def login(uid: str) -> str:
        from flask import session

        session["user_id"] = uid
        return "ok"

    reader = flask_session_reader(app)
    assert reader is not None and reader[0] == "session"
    cookies = []
    for uid in ("u-7", "u-8"):
        response = app.test_client().post(f"/login/{uid}")
        cookies.append(response.headers["Set-Cookie"].split(";")[0].split("=", 1)[1])
    chooser = CanaryChooser(reader)
    sticky = Sticky.model_validate("session:user_id")
    keys = [chooser.sticky_key(sticky, scope(cookie=f"session={c}")) for c in cookies]
    assert keys == [b"u-7", b"u-8"]
    assert chooser.sticky_key(sticky, scope(cookie="session=forged.value.sig")) is None


def test_apps_without_signed_sessions_have_no_reader() -> None:
    assert flask_session_reader(Flask("no-secret")) is None
    assert flask_session_reader(object()) is None


def test_apps_with_server_side_sessions_have_no_reader() -> None:
    app = Flask("server-side")
    app.secret_key = "k"
    app.session_interface = SessionInterface()  # e.g. Flask-Session: the cookie holds an id
    assert flask_session_reader(app) is None


# --- The whole gateway, called in-process as a server calls it (tests/gateway/test_traffic.py
# checks over HTTP, on fewer keys, that the server sends each key where its bucket says) -------

GATEWAY_ROUTES = """\
routes:
  - {path: /api/items, methods: [GET], target: canary, weight: 10, sticky: "header:X-User"}
  - {path: /admin, target: canary, weight: 25, sticky: "cookie:uid"}
  - {path: "/files/{name:path}", target: canary, weight: 50, sticky: "header:X-User"}
"""


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[ASGIApp]:
    routes = tmp_path / "routes.yaml"
    routes.write_text(GATEWAY_ROUTES, encoding="utf-8")
    settings = GatewaySettings(
        routes_file=routes,
        legacy_app=SAMPLE_LEGACY,
        new_app=SAMPLE_NEW,
        watch_routes=False,
        access_log=False,
        wsgi_threads=4,
    )
    app = create_app(settings, registry=CollectorRegistry())
    yield app
    # The gateway leaves its legacy bridge's threads to the server process's end; this process
    # goes on running other tests.
    bridge = app.sides["legacy"].app
    if isinstance(bridge, WSGIBridge):
        bridge.pool.shutdown()


def http_scope(path: str, header: tuple[str, str]) -> dict[str, Any]:
    name, value = header
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"gateway"), (name.encode(), value.encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def side_for(app: ASGIApp, path: str, header: tuple[str, str]) -> str:
    """The side that answered one GET, called as uvicorn calls the gateway (no network)."""
    answered = asyncio.Event()
    request_given = False
    start: Message = {}

    async def receive() -> Message:
        nonlocal request_given
        if not request_given:
            request_given = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await answered.wait()  # as a server does: the client leaves only after the answer
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            start = message
        elif not message.get("more_body", False):
            answered.set()

    await app(http_scope(path, header), receive, send)
    assert start["status"] == 200, (path, header, start)
    side: bytes = dict(start["headers"])[b"x-gateway-side"]
    return side.decode()


async def sides_for_keys(
    app: ASGIApp, path: str, header: str, keys: list[str], value: str = "{}"
) -> list[str]:
    limit = asyncio.Semaphore(16)  # requests in flight at once, as from several clients

    async def one(key: str) -> str:
        async with limit:
            return await side_for(app, path, (header, value.format(key)))

    return await asyncio.gather(*(one(key) for key in keys))


@pytest.mark.parametrize(
    ("path", "header", "value", "weight"),
    [
        pytest.param("/api/items", "x-user", "{}", 10, id="header-10"),
        pytest.param("/admin", "cookie", "uid={}", 25, id="cookie-25"),
        pytest.param("/files/report.pdf", "x-user", "{}", 50, id="path-template-50"),
    ],
)
def test_the_gateway_sends_the_weights_share_of_ten_thousand_keys_to_new(
    gateway: ASGIApp, path: str, header: str, value: str, weight: int
) -> None:
    keys = [f"user-{n}" for n in range(10_000)]
    sides = asyncio.run(sides_for_keys(gateway, path, header, keys, value))
    share = sides.count("new") / len(keys)
    assert abs(share - weight / 100) < 0.02, share
    expected = ["new" if bucket_of(key.encode()) < weight * 100 else "legacy" for key in keys]
    assert sides == expected  # each key where its bucket says, on every route
