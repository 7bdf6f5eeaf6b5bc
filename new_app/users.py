from __future__ import annotations

from fastapi import APIRouter

from new_app.context import CurrentUser
from new_app.schemas import UserOut

router = APIRouter()


@router.get("/me")
async def me(user: CurrentUser) -> UserOut:
    return UserOut.model_validate(user)
