from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, abort, jsonify, request, stream_with_context
from sqlalchemy import Select, select

from legacy_app import audit
from legacy_app.db import get_row
from legacy_app.dbsession import get_db
from legacy_app.models import (
    DESCRIPTION_MAX_LENGTH,
    PRIORITIES,
    STAFF_ROLES,
    TICKET_STATUSES,
    TITLE_MAX_LENGTH,
    Ticket,
    User,
    utcnow,
)
from legacy_app.pagination import paginate
from legacy_app.permissions import (
    can_edit,
    can_view,
    current_user,
    forbid_customer_fields,
    is_staff,
    require_role,
)
from legacy_app.serializers import ticket_to_dict
from legacy_app.validation import (
    check_choice,
    check_optional_int,
    check_string,
    choice_arg,
    int_arg,
    invalid,
    json_object,
    required,
)

bp = Blueprint("tickets", __name__)

CSV_COLUMNS = (
    "id",
    "title",
    "status",
    "priority",
    "requester_id",
    "assignee_id",
    "created_at",
    "updated_at",
)
_EXPORT_BATCH = 200


@dataclass(frozen=True)
class NewTicket:
    title: str
    description: str
    priority: str
    assignee_id: int | None
    requester_id: int | None


def get_ticket_or_404(ticket_id: int) -> Ticket:
    ticket = get_row(get_db(), Ticket, ticket_id)
    # Customers get the same 404 for other people's tickets as for missing ones: no id probing.
    if ticket is None or not can_view(ticket):
        abort(404, f"Ticket {ticket_id} not found")
    return ticket


def visible_tickets() -> Select[Ticket]:
    stmt = select(Ticket).order_by(Ticket.id)
    if not is_staff():
        stmt = stmt.where(Ticket.requester_id == current_user().id)
    return stmt


def filtered_tickets() -> Select[Ticket]:
    stmt = visible_tickets()
    if status := choice_arg("status", TICKET_STATUSES):
        stmt = stmt.where(Ticket.status == status)
    if priority := choice_arg("priority", PRIORITIES):
        stmt = stmt.where(Ticket.priority == priority)
    if (assignee_id := int_arg("assignee_id", default=None)) is not None:
        stmt = stmt.where(Ticket.assignee_id == assignee_id)
    if q := request.args.get("q"):
        stmt = stmt.where(Ticket.title.icontains(q, autoescape=True))
    return stmt


@bp.get("/tickets")
def list_tickets() -> Response:
    return jsonify(paginate(get_db(), filtered_tickets(), ticket_to_dict))


@bp.post("/tickets")
def create_ticket() -> tuple[Response, int, dict[str, str]]:
    new = _parse_new_ticket(json_object())
    forbid_customer_fields(_set_fields(new.assignee_id, new.requester_id), "set")
    _check_assignee(new.assignee_id)
    _check_requester(new.requester_id)
    now = utcnow()
    ticket = Ticket(
        title=new.title,
        description=new.description,
        priority=new.priority,
        status="open",
        requester_id=new.requester_id or current_user().id,
        assignee_id=new.assignee_id,
        created_at=now,
        updated_at=now,
    )
    session = get_db()
    session.add(ticket)
    session.flush()
    audit.record("ticket.create", f"ticket:{ticket.id}")
    session.commit()
    return jsonify(ticket_to_dict(ticket)), 201, {"Location": f"/api/tickets/{ticket.id}"}


def _parse_new_ticket(data: dict[str, object]) -> NewTicket:
    return NewTicket(
        title=_check_title(required(data, "title")),
        description=_check_description(data.get("description", "")),
        priority=check_choice(data.get("priority", "normal"), "priority", PRIORITIES),
        assignee_id=check_optional_int(data.get("assignee_id"), "assignee_id"),
        requester_id=check_optional_int(data.get("requester_id"), "requester_id"),
    )


def _set_fields(assignee_id: int | None, requester_id: int | None) -> list[str]:
    fields = {"assignee_id": assignee_id, "requester_id": requester_id}
    return [name for name, value in fields.items() if value is not None]


def _check_title(value: object) -> str:
    return check_string(value, "title", min_length=1, max_length=TITLE_MAX_LENGTH)


def _check_description(value: object) -> str:
    return check_string(value, "description", max_length=DESCRIPTION_MAX_LENGTH)


def _check_assignee(assignee_id: object) -> None:
    if not isinstance(assignee_id, int):
        return
    assignee = get_row(get_db(), User, assignee_id)
    if assignee is None or assignee.role not in STAFF_ROLES:
        invalid("assignee_id", "must refer to an agent or admin")


def _check_requester(requester_id: int | None) -> None:
    if requester_id is not None and get_row(get_db(), User, requester_id) is None:
        invalid("requester_id", "must refer to an existing user")


@bp.get("/tickets/<int:ticket_id>")
def get_ticket(ticket_id: int) -> Response:
    return jsonify(ticket_to_dict(get_ticket_or_404(ticket_id)))


@bp.patch("/tickets/<int:ticket_id>")
def update_ticket(ticket_id: int) -> Response:
    # The body is checked before the ticket is looked up: a bad body is a 422 even for id 999.
    changes = _parse_changes(json_object())
    ticket = get_ticket_or_404(ticket_id)
    if not can_edit(ticket):
        abort(403, f"You cannot edit ticket {ticket_id}")
    forbid_customer_fields(list(changes), "change")
    _check_assignee(changes.get("assignee_id"))
    if changes.get("status") == "closed" and ticket.status == "closed":
        abort(409, f"Ticket {ticket_id} is already closed")
    if changes:
        _apply(ticket, changes)
    return jsonify(ticket_to_dict(ticket))


def _parse_changes(data: dict[str, object]) -> dict[str, object]:
    changes: dict[str, object] = {}
    if "title" in data:
        changes["title"] = _check_title(data["title"])
    if "description" in data:
        changes["description"] = _check_description(data["description"])
    if "status" in data:
        changes["status"] = check_choice(data["status"], "status", TICKET_STATUSES)
    if "priority" in data:
        changes["priority"] = check_choice(data["priority"], "priority", PRIORITIES)
    if "assignee_id" in data:
        changes["assignee_id"] = check_optional_int(data["assignee_id"], "assignee_id")
    return changes


def _apply(ticket: Ticket, changes: dict[str, object]) -> None:
    for field, value in changes.items():
        setattr(ticket, field, value)
    ticket.updated_at = utcnow()
    audit.record("ticket.update", f"ticket:{ticket.id}")
    get_db().commit()


@bp.delete("/tickets/<int:ticket_id>")
def delete_ticket(ticket_id: int) -> tuple[str, int]:
    require_role("admin")
    ticket = get_ticket_or_404(ticket_id)
    session = get_db()
    session.delete(ticket)
    audit.record("ticket.delete", f"ticket:{ticket_id}")
    session.commit()
    return "", 204


@bp.get("/tickets/export.csv")
def export_csv() -> Response:
    # Filters are parsed now, so a bad one is a 400 and not a broken half-sent download.
    stmt = filtered_tickets().execution_options(yield_per=_EXPORT_BATCH)
    # The generator queries the database through `g` long after this view has returned;
    # stream_with_context keeps the request (and its session) alive until the last row.
    return Response(
        stream_with_context(_csv_lines(stmt)),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="tickets.csv"'},
    )


def _csv_row(ticket: Ticket) -> tuple[Any, ...]:
    data = ticket_to_dict(ticket)
    return tuple(data[column] for column in CSV_COLUMNS)


def _csv_lines(stmt: Select[Ticket]) -> Iterator[str]:
    yield _csv_line(CSV_COLUMNS)
    for ticket in get_db().scalars(stmt):
        yield _csv_line(_csv_row(ticket))


def _csv_line(values: Iterable[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(values)
    return buffer.getvalue()
