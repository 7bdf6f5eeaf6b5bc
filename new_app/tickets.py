from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from legacy_app.db import get_row
from legacy_app.models import STAFF_ROLES, Ticket, User, utcnow
from new_app import audit
from new_app.auth import Caller
from new_app.context import CurrentUser
from new_app.database import Db
from new_app.errors import ApiError, invalid_field
from new_app.json_body import json_body
from new_app.pagination import paginate
from new_app.permissions import can_edit, can_view, forbid_customer_fields, is_staff
from new_app.query import Pagination, TicketFilters, pagination, ticket_filters
from new_app.schemas import Page, TicketCreate, TicketOut, TicketUpdate

router = APIRouter()

Filters = Annotated[TicketFilters, Depends(ticket_filters)]
Paging = Annotated[Pagination, Depends(pagination)]
NewTicketBody = Annotated[TicketCreate, Depends(json_body(TicketCreate))]
TicketChangesBody = Annotated[TicketUpdate, Depends(json_body(TicketUpdate))]


def get_visible_ticket(db: Session, ticket_id: int) -> Ticket:
    ticket = get_row(db, Ticket, ticket_id)
    # Customers get the same 404 for other people's tickets as for missing ones: no id probing.
    if ticket is None or not can_view(ticket):
        raise ApiError(404, f"Ticket {ticket_id} not found")
    return ticket


def visible_tickets(user: Caller) -> Select[Ticket]:
    stmt = select(Ticket).order_by(Ticket.id)
    if not is_staff():
        stmt = stmt.where(Ticket.requester_id == user.id)
    return stmt


def filtered_tickets(user: Caller, filters: TicketFilters) -> Select[Ticket]:
    stmt = visible_tickets(user)
    if filters.status:
        stmt = stmt.where(Ticket.status == filters.status)
    if filters.priority:
        stmt = stmt.where(Ticket.priority == filters.priority)
    if filters.assignee_id is not None:
        stmt = stmt.where(Ticket.assignee_id == filters.assignee_id)
    if filters.q:
        stmt = stmt.where(Ticket.title.icontains(filters.q, autoescape=True))
    return stmt


@router.get("/tickets")
async def list_tickets(
    user: CurrentUser, db: Db, filters: Filters, paging: Paging
) -> Page[TicketOut]:
    stmt = filtered_tickets(user, filters)
    return await db.run(paginate, stmt, paging, TicketOut.model_validate)


@router.post("/tickets", status_code=201)
async def create_ticket(
    body: NewTicketBody, user: CurrentUser, db: Db, response: Response
) -> TicketOut:
    ticket = await db.run(_create_ticket, body, user)
    response.headers["Location"] = f"/api/tickets/{ticket.id}"
    return ticket


def _create_ticket(db: Session, body: TicketCreate, user: Caller) -> TicketOut:
    set_fields = [
        name
        for name, value in (("assignee_id", body.assignee_id), ("requester_id", body.requester_id))
        if value is not None
    ]
    forbid_customer_fields(set_fields, "set")
    _check_assignee(db, body.assignee_id)
    _check_requester(db, body.requester_id)
    now = utcnow()
    ticket = Ticket(
        title=body.title,
        description=body.description,
        priority=body.priority,
        status="open",
        requester_id=body.requester_id or user.id,
        assignee_id=body.assignee_id,
        created_at=now,
        updated_at=now,
    )
    db.add(ticket)
    db.flush()
    audit.record(db, "ticket.create", f"ticket:{ticket.id}")
    db.commit()
    return TicketOut.model_validate(ticket)


def _check_assignee(db: Session, assignee_id: object) -> None:
    if not isinstance(assignee_id, int):
        return
    assignee = get_row(db, User, assignee_id)
    if assignee is None or assignee.role not in STAFF_ROLES:
        raise invalid_field("assignee_id", "must refer to an agent or admin")


def _check_requester(db: Session, requester_id: int | None) -> None:
    if requester_id is not None and get_row(db, User, requester_id) is None:
        raise invalid_field("requester_id", "must refer to an existing user")


@router.get("/tickets/{ticket_id:int}")
async def get_ticket(ticket_id: int, db: Db) -> TicketOut:
    return await db.run(_visible_ticket_out, ticket_id)


def _visible_ticket_out(db: Session, ticket_id: int) -> TicketOut:
    return TicketOut.model_validate(get_visible_ticket(db, ticket_id))


@router.patch("/tickets/{ticket_id:int}")
async def update_ticket(ticket_id: int, body: TicketChangesBody, db: Db) -> TicketOut:
    changes = body.model_dump(include=body.model_fields_set)
    return await db.run(_update_ticket, ticket_id, changes)


def _update_ticket(db: Session, ticket_id: int, changes: dict[str, object]) -> TicketOut:
    ticket = get_visible_ticket(db, ticket_id)
    if not can_edit(ticket):
        raise ApiError(403, f"You cannot edit ticket {ticket_id}")
    forbid_customer_fields(list(changes), "change")
    _check_assignee(db, changes.get("assignee_id"))
    if changes.get("status") == "closed" and ticket.status == "closed":
        raise ApiError(409, f"Ticket {ticket_id} is already closed")
    if changes:
        _apply(db, ticket, changes)
    return TicketOut.model_validate(ticket)


def _apply(db: Session, ticket: Ticket, changes: dict[str, object]) -> None:
    for field, value in changes.items():
        setattr(ticket, field, value)
    ticket.updated_at = utcnow()
    audit.record(db, "ticket.update", f"ticket:{ticket.id}")
    db.commit()
