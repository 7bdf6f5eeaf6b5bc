from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy import select
from sqlalchemy.orm import Session

from legacy_app.models import Comment, utcnow
from new_app import audit
from new_app.auth import Caller
from new_app.context import CurrentUser
from new_app.database import Db
from new_app.errors import ApiError
from new_app.json_body import json_body
from new_app.pagination import paginate
from new_app.query import Pagination, pagination
from new_app.schemas import CommentCreate, CommentOut, Page
from new_app.tickets import get_visible_ticket

router = APIRouter()

Paging = Annotated[Pagination, Depends(pagination)]
NewCommentBody = Annotated[CommentCreate, Depends(json_body(CommentCreate))]


@router.get("/tickets/{ticket_id:int}/comments")
async def list_comments(ticket_id: int, db: Db, paging: Paging) -> Page[CommentOut]:
    return await db.run(_list_comments, ticket_id, paging)


def _list_comments(db: Session, ticket_id: int, paging: Pagination) -> Page[CommentOut]:
    get_visible_ticket(db, ticket_id)
    stmt = select(Comment).where(Comment.ticket_id == ticket_id).order_by(Comment.id)
    return paginate(db, stmt, paging, CommentOut.model_validate)


@router.post("/tickets/{ticket_id:int}/comments", status_code=201)
async def create_comment(
    ticket_id: int, body: NewCommentBody, user: CurrentUser, db: Db
) -> CommentOut:
    return await db.run(_create_comment, ticket_id, body, user)


def _create_comment(db: Session, ticket_id: int, body: CommentCreate, user: Caller) -> CommentOut:
    ticket = get_visible_ticket(db, ticket_id)
    if ticket.status == "closed":
        raise ApiError(409, f"Ticket {ticket_id} is closed")
    now = utcnow()
    comment = Comment(ticket_id=ticket.id, author_id=user.id, body=body.body, created_at=now)
    # A reply is activity on the ticket: queues sort by updated_at.
    ticket.updated_at = now
    db.add(comment)
    db.flush()
    audit.record(db, "comment.create", f"ticket:{ticket.id}")
    db.commit()
    return CommentOut.model_validate(comment)
