"""Two tiny apps that say who they think the client is: what a gateway behind a proxy passes on.

The legacy (Flask) app answers with its WSGI environ's REMOTE_ADDR and url scheme, the new
(FastAPI) app with its ASGI scope's client and scheme.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from flask import Flask, jsonify
from flask import request as flask_request
from flask.typing import ResponseReturnValue

legacy = Flask("whoami_legacy")
new = FastAPI()


@legacy.get("/whoami")
def legacy_whoami() -> ResponseReturnValue:
    return jsonify(
        side="legacy",
        client=flask_request.environ.get("REMOTE_ADDR"),
        scheme=flask_request.environ["wsgi.url_scheme"],
    )


@new.get("/new/whoami")
async def new_whoami(request: Request) -> dict[str, object]:
    client = request.client
    return {
        "side": "new",
        "client": client.host if client else None,
        "scheme": request.url.scheme,
    }
