"""Who may do what, as in the legacy app, reading the caller from the request context."""

from __future__ import annotations

from legacy_app.models import STAFF_ROLES, Ticket
from new_app.context import current
from new_app.errors import ApiError


def is_staff() -> bool:
    return current().user.role in STAFF_ROLES


def can_view(ticket: Ticket) -> bool:
    return is_staff() or ticket.requester_id == current().user.id


def can_edit(ticket: Ticket) -> bool:
    # Once closed, a ticket is the support team's record: customers open a new one instead.
    user = current().user
    return is_staff() or (ticket.requester_id == user.id and ticket.status != "closed")


def forbid_customer_fields(fields: list[str], verb: str) -> None:
    """Customers may only touch a ticket's text, never its workflow fields."""
    if is_staff():
        return
    for field in ("status", "priority", "assignee_id", "requester_id"):
        if field in fields:
            raise ApiError(403, f"Customers cannot {verb} '{field}'")
