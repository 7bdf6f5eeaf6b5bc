"""A FastAPI app beside archivy (a real Flask-Login app from PyPI), sharing its login.

Only importable where archivy is installed (its own virtualenv): test_archivy.py serves it with
archivy's own app through `gateway serve`.
"""

from typing import Annotated, Any

from archivy import app as archivy_app
from fastapi import Depends, FastAPI, Request
from flask import request
from flask_login import current_user

from gateway.compat.flask import LegacyState, LegacyStateMiddleware

legacy = LegacyState(archivy_app)
app = FastAPI()
app.add_middleware(LegacyStateMiddleware)


def describe() -> dict[str, Any]:
    return {"user": current_user.username, "path": request.path}


@app.get("/new/health")
async def health() -> dict[str, bool]:
    return {"ok": True}


@app.get("/new/whoami")
async def whoami(user: Annotated[Any, Depends(legacy.current_user)]) -> dict[str, Any]:
    return {"user": user.username}


@app.get("/new/describe")
async def describe_endpoint(request: Request) -> dict[str, Any]:
    # archivy's before_request hook redirects anonymous callers to its login page.
    return await legacy.run(request, describe)


@app.post("/new/logout")
async def logout(request: Request) -> dict[str, bool]:
    return {"logged_out": await legacy.logout_user(request)}
