from __future__ import annotations

from flask import Blueprint
from sqlalchemy import text

from legacy_app.dbsession import get_db

bp = Blueprint("health", __name__)


@bp.get("/health")
def health() -> dict[str, str]:
    # Load balancers take a worker out on a failed check; a worker without its database is down.
    get_db().execute(text("SELECT 1"))
    return {"status": "ok"}
