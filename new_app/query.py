"""Query parameters, read the way the legacy app read `request.args`.

Two Flask habits clients depend on: a repeated parameter means its first value (Starlette's
`query_params.get()` returns the last), and an empty value means "not given".
"""

from __future__ import annotations

import re
from typing import Annotated, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, BeforeValidator, Field, ValidationError
from pydantic_core import PydanticCustomError

from legacy_app.db import MAX_ROW_ID
from legacy_app.models import Priority, TicketStatus

MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 20
# The legacy parser took ASCII digits only; Pydantic's lax int would also take "+5", " 5",
# "5.0" and "5_0", turning the legacy 400s into 200s.
_INTEGER = re.compile(r"-?[0-9]+")

ModelT = TypeVar("ModelT", bound=BaseModel)


def _ascii_integer(value: object) -> object:
    if isinstance(value, str) and not _INTEGER.fullmatch(value):
        raise PydanticCustomError("int_parsing", "Input should be a valid integer")
    return value


QueryInt = Annotated[int, BeforeValidator(_ascii_integer), Field(ge=1, le=MAX_ROW_ID)]


class TicketFilters(BaseModel):
    status: TicketStatus | None = None
    priority: Priority | None = None
    assignee_id: QueryInt | None = None
    q: str | None = None


class Pagination(BaseModel):
    page: QueryInt = 1
    per_page: QueryInt = DEFAULT_PER_PAGE

    @property
    def limit(self) -> int:
        # Clamped, not rejected: older clients ask for per_page=1000.
        return min(self.per_page, MAX_PER_PAGE)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


def first_values(request: Request) -> dict[str, str]:
    values: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        values.setdefault(key, value)
    return {key: value for key, value in values.items() if value}


def parse_query(model: type[ModelT], request: Request) -> ModelT:
    try:
        return model.model_validate(first_values(request))
    except ValidationError as exc:
        errors = [{**error, "loc": ("query", *error["loc"])} for error in exc.errors()]
        raise RequestValidationError(errors) from exc


# Async although they await nothing: FastAPI would run sync dependencies in its threadpool,
# one thread hand-off each for a few microseconds of parsing.
async def ticket_filters(request: Request) -> TicketFilters:
    return parse_query(TicketFilters, request)


async def pagination(request: Request) -> Pagination:
    return parse_query(Pagination, request)
