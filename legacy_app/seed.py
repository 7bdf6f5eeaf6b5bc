"""Deterministic demo data: fixed users, tokens, timestamps, so two fresh databases are equal.

Seed users (all with the password ``password``):

=====  =======================  ========  ================
id     email                    role      X-Token
=====  =======================  ========  ================
1      admin@example.com        admin     admin-token
2      agent@example.com        agent     agent-token
3      customer@example.com     customer  customer-token
4      agent2@example.com       agent     agent2-token
5      customer2@example.com    customer  customer2-token
=====  =======================  ========  ================
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from legacy_app.models import Comment, Ticket, User

DEMO_PASSWORD = "password"
SEED_EPOCH = datetime(2024, 3, 1, 9, 0, 0)

DEMO_USERS: tuple[tuple[str, str, str, str], ...] = (
    ("admin@example.com", "Ada Admin", "admin", "admin-token"),
    ("agent@example.com", "Alan Agent", "agent", "agent-token"),
    ("customer@example.com", "Carla Customer", "customer", "customer-token"),
    ("agent2@example.com", "Grace Agent", "agent", "agent2-token"),
    ("customer2@example.com", "Cody Customer", "customer", "customer2-token"),
)

TICKET_TITLES: tuple[str, ...] = (
    "Cannot log in after password reset",
    "Invoice PDF shows wrong VAT rate",
    "Export to CSV times out",
    "Feature request: dark mode",
    "Two-factor codes arrive late",
    "Dashboard graph is empty on Mondays",
    "Typo on the pricing page",
    "Webhook retries never stop",
    "Mobile app crashes on upload",
    "Cannot change billing address",
    "Search ignores accented characters",
    "API returns 500 for long names",
    "Email notifications go to spam",
    "Refund not received",
    "Calendar sync duplicates events",
    "Slow page loads in Safari",
    "Team member cannot see shared folder",
    "SSO login loops back to start",
    "Wrong time zone in reports",
    "Attachment preview is blurry",
    "Password rules not explained",
    "Cannot delete old project",
    "Import from spreadsheet skips rows",
    "Chat widget overlaps footer",
    "Account locked after one attempt",
)

STATUS_CYCLE = ("open", "pending", "closed", "open")
PRIORITY_CYCLE = ("normal", "high", "low")
ASSIGNEE_CYCLE: tuple[int | None, ...] = (2, 4, 2, None, 4)
REQUESTER_CYCLE = (3, 5)


def seed_demo_data(session: Session) -> None:
    # One hash for every demo user: scrypt is slow on purpose and the password is the same.
    password_hash = generate_password_hash(DEMO_PASSWORD)
    session.add_all(_users(password_hash))
    session.flush()
    tickets = _tickets()
    session.add_all(tickets)
    session.flush()
    session.add_all(_comments(tickets))


def _users(password_hash: str) -> list[User]:
    return [
        User(
            id=index,
            email=email,
            name=name,
            role=role,
            api_token=token,
            password_hash=password_hash,
        )
        for index, (email, name, role, token) in enumerate(DEMO_USERS, start=1)
    ]


def _tickets() -> list[Ticket]:
    tickets = []
    for index, title in enumerate(TICKET_TITLES):
        created = SEED_EPOCH + timedelta(hours=5 * index)
        tickets.append(
            Ticket(
                id=index + 1,
                title=title,
                description=f"Reported by a customer: {title.lower()}.",
                status=STATUS_CYCLE[index % len(STATUS_CYCLE)],
                priority=PRIORITY_CYCLE[index % len(PRIORITY_CYCLE)],
                requester_id=REQUESTER_CYCLE[index % len(REQUESTER_CYCLE)],
                assignee_id=ASSIGNEE_CYCLE[index % len(ASSIGNEE_CYCLE)],
                created_at=created,
                updated_at=created + timedelta(minutes=30 * (index % 4)),
            )
        )
    return tickets


def _comments(tickets: list[Ticket]) -> list[Comment]:
    comments = []
    for ticket in tickets[:12]:
        # Every third ticket gets a back-and-forth; the rest a single reply from the requester.
        authors = [ticket.requester_id, ticket.assignee_id or 1, ticket.requester_id]
        count = 3 if ticket.id % 3 == 1 else 1
        for offset, author_id in enumerate(authors[:count]):
            comments.append(
                Comment(
                    ticket_id=ticket.id,
                    author_id=author_id,
                    body=f"Comment {offset + 1} on ticket {ticket.id}.",
                    created_at=ticket.created_at + timedelta(minutes=10 * (offset + 1)),
                )
            )
    return comments
