"""`{"items", "page", "per_page", "total"}` for a select, as the legacy paginate() built it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from new_app.query import Pagination
from new_app.schemas import Page

RowT = TypeVar("RowT")
ItemT = TypeVar("ItemT", bound=BaseModel)


def paginate(
    db: Session, stmt: Select[RowT], paging: Pagination, to_item: Callable[[Any], ItemT]
) -> Page[ItemT]:
    total = db.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    # Past the end there is nothing to fetch, and a huge offset would overflow SQLite's integers.
    rows = (
        db.scalars(stmt.limit(paging.limit).offset(paging.offset)).all()
        if paging.offset < total
        else []
    )
    return Page(
        items=[to_item(row) for row in rows], page=paging.page, per_page=paging.limit, total=total
    )
