"""A FastAPI app beside calibre-web, sharing its login (calibre-web's own Flask-Login fork).

Only importable where calibre-web is installed (its own virtualenv): test_calibreweb.py serves
it with calibre-web's app through `gateway serve`.
"""

from typing import Annotated, Any

from fastapi import Depends, FastAPI

from gateway.compat.flask import LegacyState, LegacyStateMiddleware
from tests.corpus.calibreweb_app import app as calibreweb_app

legacy = LegacyState(calibreweb_app)
app = FastAPI()
app.add_middleware(LegacyStateMiddleware)


@app.get("/new/health")
async def health() -> dict[str, bool]:
    return {"ok": True}


@app.get("/new/whoami")
async def whoami(user: Annotated[Any, Depends(legacy.current_user)]) -> dict[str, Any]:
    # calibre-web's user model (cps/ub.py): `name`, and its admin role.
    return {"user": user.name, "admin": bool(user.role_admin())}
