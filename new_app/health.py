from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text
from sqlalchemy.orm import Session

from new_app.database import Db

router = APIRouter()


@router.get("/health")
async def health(db: Db) -> dict[str, str]:
    # A process without its database is down, whatever its event loop says.
    await db.run(_select_one)
    return {"status": "ok"}


def _select_one(db: Session) -> None:
    db.execute(text("SELECT 1"))
