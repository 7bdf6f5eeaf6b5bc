"""Two services the HTTP side tests run as processes of their own: `new_service` under uvicorn
and `legacy_service` under gunicorn. Each answer says which served it.

A request that must wait (a hung view, the second half of a stream) waits for a file, the gate,
that the test creates when it has seen what it waits for: the services run in other processes,
and a file is the one thing both see without a request of its own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from flask import Flask, Response, jsonify
from flask import request as flask_request
from flask.typing import ResponseReturnValue

GATE_SECONDS = 60.0  # a gate never opened ends the wait anyway, so no process hangs forever

new_service = FastAPI()


def _answer(request: Request, view: str) -> dict[str, object]:
    return {
        "app": "new",
        "view": view,
        "path": request.url.path,
        "request_id": request.headers.get("x-request-id"),
        "forwarded_for": request.headers.get("x-forwarded-for"),
        "forwarded": request.headers.get("forwarded"),
        "connection_named": request.headers.get("x-hop"),
        "host": request.headers.get("host"),
    }


@new_service.get("/api/items/{item_id}")
async def new_item(request: Request, item_id: int) -> dict[str, object]:
    return _answer(request, "item")


@new_service.get("/api/things")
async def new_things(request: Request) -> dict[str, object]:
    return _answer(request, "things")


@new_service.post("/api/echo")
async def new_echo(request: Request) -> dict[str, object]:
    body = await request.body()
    return {"app": "new", "size": len(body), "head": body[:16].decode("latin-1")}


@new_service.post("/api/upload")
async def new_upload(request: Request, mark: str) -> dict[str, object]:
    """Marks (a file) that the body's first piece came, then reads the rest."""
    size = 0
    async for chunk in request.stream():
        if chunk and size == 0:
            Path(mark).touch()
        size += len(chunk)
    return {"app": "new", "size": size}


@new_service.get("/compare/{case}")
async def new_compare(case: str) -> dict[str, object]:
    return {"case": case, "value": 2 if case == "differ" else 1}


async def _gate(path: str) -> None:
    deadline = time.monotonic() + GATE_SECONDS
    while not Path(path).exists() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)


@new_service.get("/hang")
async def new_hang(gate: str) -> dict[str, object]:
    await _gate(gate)
    return {"app": "new", "view": "hang"}


@new_service.get("/stream")
async def new_stream(gate: str) -> StreamingResponse:
    async def body() -> AsyncIterator[bytes]:
        yield b"first\n"
        await _gate(gate)
        yield b"second\n"

    return StreamingResponse(body(), media_type="text/plain")


legacy_service = Flask("legacy_service")


def _legacy_answer(view: str) -> ResponseReturnValue:
    return jsonify(
        app="legacy",
        view=view,
        path=flask_request.path,
        request_id=flask_request.headers.get("X-Request-ID"),
        forwarded_for=flask_request.headers.get("X-Forwarded-For"),
    )


@legacy_service.get("/api/items/<int:item_id>")
def legacy_item(item_id: int) -> ResponseReturnValue:
    return _legacy_answer("item")


@legacy_service.get("/api/things")
def legacy_things() -> ResponseReturnValue:
    return _legacy_answer("things")


@legacy_service.get("/compare/<case>")
def legacy_compare(case: str) -> ResponseReturnValue:
    return jsonify(case=case, value=1)


def _wait(path: str) -> None:
    deadline = time.monotonic() + GATE_SECONDS
    while not Path(path).exists() and time.monotonic() < deadline:
        time.sleep(0.02)


@legacy_service.get("/hang")
def legacy_hang() -> ResponseReturnValue:
    _wait(flask_request.args["gate"])
    return _legacy_answer("hang")


@legacy_service.get("/stream")
def legacy_stream() -> Response:
    gate = flask_request.args["gate"]

    def body() -> Iterator[bytes]:
        yield b"first\n"
        _wait(gate)
        yield b"second\n"

    return Response(body(), mimetype="text/plain")
