"""The two sides the rollout tests serve: every `/r/<name>` answers on both; the new side fails
(500) for the names the tests want aborted."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from flask import Flask

FAILING_ON_NEW = frozenset({"failing", "guarded"})

legacy_app = Flask(__name__)
new_app = FastAPI()


@legacy_app.get("/r/<name>")
def legacy_route(name: str) -> dict[str, str]:
    return {"side": "legacy", "name": name}


@new_app.get("/r/{name}")
async def new_route(name: str) -> JSONResponse:
    status = 500 if name in FAILING_ON_NEW else 200
    return JSONResponse({"side": "new", "name": name}, status_code=status)
