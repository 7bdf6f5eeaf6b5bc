"""The JSON contract of the API. Clients parse these exact keys and timestamp format."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from legacy_app.models import Attachment, Comment, Ticket, User


def isoformat(moment: datetime) -> str:
    return moment.replace(tzinfo=UTC).isoformat(timespec="seconds")


def user_to_dict(user: User) -> dict[str, Any]:
    return {"id": user.id, "email": user.email, "name": user.name, "role": user.role}


def ticket_to_dict(ticket: Ticket) -> dict[str, Any]:
    return {
        "id": ticket.id,
        "title": ticket.title,
        "description": ticket.description,
        "status": ticket.status,
        "priority": ticket.priority,
        "requester_id": ticket.requester_id,
        "assignee_id": ticket.assignee_id,
        "created_at": isoformat(ticket.created_at),
        "updated_at": isoformat(ticket.updated_at),
    }


def comment_to_dict(comment: Comment) -> dict[str, Any]:
    return {
        "id": comment.id,
        "ticket_id": comment.ticket_id,
        "author_id": comment.author_id,
        "body": comment.body,
        "created_at": isoformat(comment.created_at),
    }


def attachment_to_dict(attachment: Attachment) -> dict[str, Any]:
    return {
        "id": attachment.id,
        "ticket_id": attachment.ticket_id,
        "filename": attachment.filename,
        "content_type": attachment.content_type,
        "size": attachment.size,
        "url": f"/api/attachments/{attachment.id}",
    }
