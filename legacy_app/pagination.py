"""`?page=&per_page=` for any list endpoint, read straight from `request.args`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from legacy_app.validation import int_arg

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100

RowT = TypeVar("RowT")


def page_args() -> tuple[int, int]:
    page = int_arg("page", default=1) or 1
    # Larger requests are clamped rather than rejected: older clients ask for per_page=1000.
    per_page = min(int_arg("per_page", default=DEFAULT_PER_PAGE) or DEFAULT_PER_PAGE, MAX_PER_PAGE)
    return page, per_page


def paginate(
    session: Session, stmt: Select[RowT], serialize: Callable[[RowT], dict[str, Any]]
) -> dict[str, Any]:
    page, per_page = page_args()
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    offset = (page - 1) * per_page
    # Past the end there is nothing to fetch, and a huge offset would overflow SQLite's integers.
    rows = session.scalars(stmt.limit(per_page).offset(offset)).all() if offset < total else []
    return {
        "items": [serialize(row) for row in rows],
        "page": page,
        "per_page": per_page,
        "total": total,
    }
