"""Two apps that answer with the trace context they received: the legacy one from its WSGI
environ, the new one from its ASGI headers (as their own OpenTelemetry instrumentation reads it),
and a legacy route that fails (for a guard to trip on)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from flask import Flask, jsonify
from flask import request as flask_request
from flask.typing import ResponseReturnValue

legacy_app = Flask("trace_legacy")
new_app = FastAPI()


@legacy_app.get("/echo/<name>")
def legacy_echo(name: str) -> ResponseReturnValue:
    environ = flask_request.environ
    return jsonify(
        side="legacy",
        traceparent=environ.get("HTTP_TRACEPARENT"),
        tracestate=environ.get("HTTP_TRACESTATE"),
    )


@new_app.get("/echo/{name}")
async def new_echo(name: str, request: Request) -> dict[str, str | None]:
    return {
        "side": "new",
        "traceparent": request.headers.get("traceparent"),
        "tracestate": request.headers.get("tracestate"),
    }


@new_app.get("/fails/{name}")
async def new_fails(name: str) -> dict[str, str]:
    raise RuntimeError("the new side fails")


@legacy_app.get("/fails/<name>")
def legacy_fails(name: str) -> ResponseReturnValue:
    return jsonify(side="legacy")
