"""Two small apps for shadow tests: each side records the headers it received.

The legacy side answers `/echo` with a CORS header the new side does not send (a header-only
difference on every request, as between two real implementations), and `/body` with a value
the new side answers differently (a body difference).
"""

from __future__ import annotations

import threading

from fastapi import FastAPI, Request, Response
from flask import Flask
from flask import request as flask_request

flask_app = Flask(__name__)
fastapi_app = FastAPI()
_legacy_seen: list[dict[str, str]] = []
_new_seen: list[dict[str, str]] = []


@flask_app.get("/echo")
def legacy_echo() -> tuple[dict[str, bool], int, dict[str, str]]:
    _legacy_seen.append({name.lower(): value for name, value in flask_request.headers.items()})
    return {"ok": True}, 200, {"Access-Control-Allow-Origin": "*"}


@flask_app.get("/body")
def legacy_body() -> dict[str, int]:
    return {"value": 1}


@flask_app.get("/login")
def legacy_login() -> tuple[dict[str, str], int, dict[str, str]]:
    return {"token": "legacy-token-value"}, 200, {"Set-Cookie": "session=legacy-cookie-value"}


@flask_app.get("/legacy-received")
def legacy_received() -> list[dict[str, str]]:
    return _legacy_seen


@fastapi_app.get("/echo")
async def new_echo(request: Request) -> dict[str, bool]:
    seen = dict(request.headers)
    if "x-gateway-shadow" in seen:  # every value, so a second mark would show
        seen["x-gateway-shadow"] = ",".join(request.headers.getlist("x-gateway-shadow"))
    _new_seen.append(seen)
    return {"ok": True}


@fastapi_app.get("/body")
async def new_body() -> dict[str, int]:
    return {"value": 2}


@fastapi_app.get("/login")
async def new_login(response: Response) -> dict[str, str]:
    response.set_cookie("session", "new-cookie-value")
    return {"token": "new-token-value"}


@fastapi_app.get("/received")
async def new_received() -> list[dict[str, str]]:
    return _new_seen


# --- A legacy side that is slow as a shadow: each copy holds a WSGI thread until the gate opens.
_gate = threading.Event()


@flask_app.get("/slow")
def legacy_slow() -> dict[str, int]:
    _gate.wait(60)  # a bound, so a failed test still lets the server stop
    return {"value": 1}


@flask_app.get("/plain")
def legacy_plain() -> dict[str, int]:
    return {"value": 1}


@fastapi_app.get("/slow")
async def new_slow() -> dict[str, int]:
    return {"value": 1}


@fastapi_app.post("/open-gate")
async def open_gate() -> dict[str, bool]:
    _gate.set()
    return {"open": True}


# --- A primary answer larger than the route's max_body: the copy would be compared with nothing.
_large_copies: list[int] = []


@flask_app.get("/large")
def legacy_large() -> dict[str, str]:
    return {"text": "x" * 100}


@fastapi_app.get("/large")
async def new_large() -> dict[str, str]:
    _large_copies.append(1)
    return {"text": "x" * 100}


@fastapi_app.get("/large-copies")
async def large_copies() -> int:
    return len(_large_copies)
