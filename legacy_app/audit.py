"""The audit trail: who changed what, from which address, under which request id.

Called from views and helpers alike; it finds the user and the request through Flask's
context locals, so callers pass only what happened.
"""

from __future__ import annotations

import logging

from flask import g, request

from legacy_app.dbsession import get_db
from legacy_app.models import AuditEvent, User

logger = logging.getLogger(__name__)
_REQUEST_ID_MAX_LENGTH = 200


def record(action: str, target: str) -> AuditEvent:
    user: User | None = g.get("user")
    request_id = request.headers.get("X-Request-ID")
    event = AuditEvent(
        action=action,
        target=target,
        user_id=user.id if user is not None else None,
        remote_addr=request.remote_addr,
        request_id=request_id[:_REQUEST_ID_MAX_LENGTH] if request_id else None,
    )
    # Same session as the change itself: the event commits or rolls back with it.
    get_db().add(event)
    logger.info(
        "%s %s by user %s from %s (request %s)",
        action,
        target,
        event.user_id,
        event.remote_addr,
        event.request_id,
    )
    return event
