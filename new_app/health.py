from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from new_app.database import DbSession

router = APIRouter()


@router.get("/health")
def health(db: DbSession) -> dict[str, str]:
    # A process without its database is down, whatever its event loop says.
    db.execute(text("SELECT 1"))
    return {"status": "ok"}
