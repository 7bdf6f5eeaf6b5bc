"""Who may do what. Reads the authenticated user from `g`, so it works from any helper."""

from __future__ import annotations

from flask import abort, g

from legacy_app.models import STAFF_ROLES, Ticket, User


def current_user() -> User:
    user: User = g.user
    return user


def is_staff() -> bool:
    return current_user().role in STAFF_ROLES


def require_role(*roles: str) -> None:
    if current_user().role not in roles:
        abort(403, "This action requires the role " + " or ".join(roles))


def can_view(ticket: Ticket) -> bool:
    return is_staff() or ticket.requester_id == current_user().id


def can_edit(ticket: Ticket) -> bool:
    # Once closed, a ticket is the support team's record: customers open a new one instead.
    return is_staff() or (ticket.requester_id == current_user().id and ticket.status != "closed")


def forbid_customer_fields(fields: list[str], verb: str) -> None:
    """Customers may only touch a ticket's text, never its workflow fields."""
    if is_staff():
        return
    for field in ("status", "priority", "assignee_id", "requester_id"):
        if field in fields:
            abort(403, f"Customers cannot {verb} '{field}'")
