"""Two tiny applications the gateway tests serve: each answer says which app produced it.

`flask_app` plays the legacy side, `fastapi_app` the new one; both have an `/admin` view so the
path probes can tell whether a spelling of `/admin` reached the side the table chose.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response, WebSocket
from fastapi.responses import JSONResponse, StreamingResponse
from flask import Flask, jsonify, session
from flask import request as flask_request
from flask.typing import ResponseReturnValue

flask_app = Flask("sample_legacy")


def _flask_answer(view: str) -> ResponseReturnValue:
    return jsonify(
        app="legacy",
        view=view,
        path=flask_request.path,
        request_id=flask_request.headers.get("X-Request-ID"),
    )


@flask_app.get("/admin")
def legacy_admin() -> ResponseReturnValue:
    return _flask_answer("admin")


@flask_app.route("/api/items", methods=["GET", "POST"])
def legacy_items() -> ResponseReturnValue:
    return _flask_answer("items")


@flask_app.get("/api/items/<int:item_id>")
def legacy_item(item_id: int) -> ResponseReturnValue:
    return _flask_answer("item")


@flask_app.get("/files/<path:name>")
def legacy_file(name: str) -> ResponseReturnValue:
    return _flask_answer("file")


@flask_app.get("/slow")
def legacy_slow() -> ResponseReturnValue:
    time.sleep(float(flask_request.args.get("seconds", "0.2")))
    return _flask_answer("slow")


@flask_app.get("/boom")
def legacy_boom() -> ResponseReturnValue:
    raise RuntimeError("the legacy view failed")


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[dict[str, object]]:
    app.state.started = True
    yield {"lifespan_token": "set-by-lifespan"}


fastapi_app = FastAPI(lifespan=_lifespan)


def _fastapi_answer(request: Request, view: str) -> dict[str, object]:
    return {
        "app": "new",
        "view": view,
        "path": request.url.path,
        "request_id": request.headers.get("x-request-id"),
        "lifespan_token": getattr(request.state, "lifespan_token", None),
        "pid": os.getpid(),
    }


@fastapi_app.get("/admin")
async def new_admin(request: Request) -> dict[str, object]:
    return _fastapi_answer(request, "admin")


@fastapi_app.get("/api/items")
async def new_items(request: Request) -> dict[str, object]:
    return _fastapi_answer(request, "items")


@fastapi_app.get("/api/items/{item_id}")
async def new_item(request: Request, item_id: int) -> dict[str, object]:
    return _fastapi_answer(request, "item")


@fastapi_app.get("/files/{name:path}")
async def new_file(request: Request, name: str) -> dict[str, object]:
    return _fastapi_answer(request, "file")


@fastapi_app.get("/slow")
async def new_slow(request: Request, seconds: float = 0.2) -> dict[str, object]:
    await asyncio.sleep(seconds)
    return _fastapi_answer(request, "slow")


@fastapi_app.get("/boom")
async def new_boom() -> dict[str, object]:
    raise RuntimeError("the new view failed")


# --- Routes for traffic shifting: the two sides agree or differ on purpose -------------------

flask_app.secret_key = "sample-secret"
CALLS: dict[str, int] = {}


@flask_app.post("/login/<user_id>")
def legacy_login(user_id: str) -> ResponseReturnValue:
    session["user_id"] = user_id
    return jsonify(ok=True)


@flask_app.route("/compare/<case>", methods=["GET", "POST"])
def legacy_compare(case: str) -> ResponseReturnValue:
    if flask_request.method == "POST":
        CALLS[f"legacy:{case}"] = CALLS.get(f"legacy:{case}", 0) + 1
    if case == "noisy":
        return jsonify(case=case, value=1, generated_at=time.time(), nonce=uuid.uuid4().hex)
    return jsonify(case=case, value=1, items=[{"id": 1, "tags": ["a", "b"]}])


@flask_app.get("/flaky")
def legacy_flaky() -> ResponseReturnValue:
    return jsonify(app="legacy", view="flaky")


@flask_app.post("/flaky")
def legacy_flaky_post() -> ResponseReturnValue:
    return jsonify(app="legacy", view="flaky")


@flask_app.get("/calls")
def legacy_calls() -> ResponseReturnValue:
    return jsonify(CALLS)


@fastapi_app.api_route("/compare/{case}", methods=["GET", "POST"])
async def new_compare(request: Request, case: str) -> Response:
    if request.method == "POST":
        CALLS[f"new:{case}"] = CALLS.get(f"new:{case}", 0) + 1
    if case == "slow":
        await asyncio.sleep(1.0)
    if case == "gated":
        await _pass_gate("compare")
    if case == "stuck":
        await asyncio.sleep(30)
    if case == "raise":
        raise RuntimeError("the new compare view failed")
    if case == "noisy":
        body: dict[str, object] = {
            "nonce": uuid.uuid4().hex,
            "generated_at": time.time(),
            "value": 1.0,
            "case": case,
        }
    elif case == "differ":
        body = {"case": case, "value": 2, "items": [{"id": 1, "tags": ["a", "c"]}]}
    else:  # the same data as legacy's, keys in another order, 1 spelled 1.0
        body = {"items": [{"tags": ["a", "b"], "id": 1.0}], "value": 1.0, "case": case}
    return JSONResponse(body)


@fastapi_app.api_route("/flaky", methods=["GET", "POST"])
async def new_flaky(request: Request, status: int = 503, delay: float = 0.0) -> Response:
    if delay:
        await asyncio.sleep(delay)
    if status == 0:
        raise RuntimeError("the new flaky view failed")
    return JSONResponse({"app": "new", "view": "flaky"}, status_code=status)


@fastapi_app.get("/calls")
async def new_calls() -> dict[str, int]:
    return CALLS


# --- Gates: a new-side request that waits until the test opens its gate ---------------------
# So a test controls when a request ends, instead of sleeping and hoping the timing holds on a
# loaded machine. One server process: the gates live in its event loop.

_GATES: dict[str, asyncio.Event] = {}
_WAITING: dict[str, int] = {}


async def _pass_gate(name: str) -> None:
    _WAITING[name] = _WAITING.get(name, 0) + 1
    try:
        await _GATES.setdefault(name, asyncio.Event()).wait()
    finally:
        _WAITING[name] -= 1


@fastapi_app.get("/gated/{name}")
async def new_gated(request: Request, name: str) -> dict[str, object]:
    await _pass_gate(name)
    return _fastapi_answer(request, "gated")


@fastapi_app.get("/gates/{name}")
async def new_gate_waiting(name: str) -> dict[str, int]:
    return {"waiting": _WAITING.get(name, 0)}


@fastapi_app.post("/gates/{name}")
async def new_gate_open(name: str) -> dict[str, int]:
    _GATES.setdefault(name, asyncio.Event()).set()
    return {"waiting": _WAITING.get(name, 0)}


@fastapi_app.websocket("/ws")
async def new_echo(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text("new:" + await websocket.receive_text())
    await websocket.close()


# --- Routes that never answer, or fail halfway: timeouts and accounting ----------------------


@flask_app.get("/hang")
def legacy_hang() -> ResponseReturnValue:
    return _flask_answer("hang")


@fastapi_app.get("/hang")
async def new_hang() -> dict[str, object]:
    try:
        await asyncio.Event().wait()  # never set: only the gateway's timeout ends this
    finally:
        CALLS["new:hang:ended"] = CALLS.get("new:hang:ended", 0) + 1
    return {}  # not reached


@fastapi_app.get("/cut")
async def new_cut() -> StreamingResponse:
    async def body() -> AsyncIterator[bytes]:
        yield b'{"items": ['
        raise RuntimeError("the new view failed after its answer started")

    return StreamingResponse(body(), media_type="application/json")


@fastapi_app.get("/hold")
async def new_hold(seconds: float = 3.0) -> StreamingResponse:
    """Says which worker serves it at once, then holds the request for `seconds`."""

    async def body() -> AsyncIterator[bytes]:
        yield f"{os.getpid()}\n".encode()
        await asyncio.sleep(seconds)
        yield b"done\n"

    return StreamingResponse(body(), media_type="text/plain")


@fastapi_app.post("/echo")
async def new_echo_body(request: Request) -> dict[str, object]:
    return {"app": "new", "size": len(await request.body())}
