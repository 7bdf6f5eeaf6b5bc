"""Request and response bodies. Field order matters: Pydantic reports errors in this order,
and the first one must be the field the legacy app would have complained about."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from legacy_app.models import (
    COMMENT_MAX_LENGTH,
    DESCRIPTION_MAX_LENGTH,
    TITLE_MAX_LENGTH,
    Priority,
    TicketStatus,
)


def _isoformat(moment: datetime) -> str:
    # The legacy format: UTC with an explicit "+00:00" and whole seconds. Pydantic's default
    # would print naive datetimes without any offset.
    return moment.replace(tzinfo=UTC).isoformat(timespec="seconds")


Timestamp = Annotated[datetime, PlainSerializer(_isoformat, return_type=str)]
Title = Annotated[str, Field(min_length=1, max_length=TITLE_MAX_LENGTH)]
Description = Annotated[str, Field(max_length=DESCRIPTION_MAX_LENGTH)]
CommentBody = Annotated[str, Field(min_length=1, max_length=COMMENT_MAX_LENGTH)]


class StrictBody(BaseModel):
    # The legacy checks never coerced: "5" is not an id and 1 is not a title.
    model_config = ConfigDict(strict=True)


class TicketCreate(StrictBody):
    title: Title
    description: Description = ""
    priority: Priority = "normal"
    assignee_id: int | None = None
    requester_id: int | None = None


class TicketUpdate(StrictBody):
    """Every field optional. The defaults are never applied: only fields the client sent
    (`model_fields_set`) change, and an explicit null title is an error, not "unset"."""

    title: Title = ""
    description: Description = ""
    status: TicketStatus = "open"
    priority: Priority = "normal"
    assignee_id: int | None = None


class CommentCreate(StrictBody):
    body: CommentBody


class FromRow(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class UserOut(FromRow):
    id: int
    email: str
    name: str
    role: str


class TicketOut(FromRow):
    id: int
    title: str
    description: str
    status: str
    priority: str
    requester_id: int
    assignee_id: int | None
    created_at: Timestamp
    updated_at: Timestamp


class CommentOut(FromRow):
    id: int
    ticket_id: int
    author_id: int
    body: str
    created_at: Timestamp


ItemT = TypeVar("ItemT", bound=BaseModel)


class Page(BaseModel, Generic[ItemT]):
    items: list[ItemT]
    page: int
    per_page: int
    total: int
