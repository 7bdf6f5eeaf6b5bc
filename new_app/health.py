from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import Connection, text

from new_app.database import Db

router = APIRouter()


@router.get("/health")
async def health(db: Db) -> dict[str, str]:
    # A process without its database is down, whatever its event loop says.
    await db.run_core(_select_one)
    return {"status": "ok"}


def _select_one(connection: Connection) -> None:
    connection.execute(text("SELECT 1"))
