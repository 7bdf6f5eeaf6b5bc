"""The audit trail, written to the same table and in the same transaction as the legacy app's."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from legacy_app.models import AuditEvent
from new_app.context import current

logger = logging.getLogger(__name__)
_REQUEST_ID_MAX_LENGTH = 200


def record(db: Session, action: str, target: str) -> AuditEvent:
    """Adds the event to `db`, the session of the change: it commits or rolls back with it."""
    context = current()
    request_id = context.request_id
    event = AuditEvent(
        action=action,
        target=target,
        user_id=context.user.id,
        remote_addr=context.remote_addr,
        request_id=request_id[:_REQUEST_ID_MAX_LENGTH] if request_id else None,
    )
    db.add(event)
    logger.info(
        "%s %s by user %s from %s (request %s)",
        action,
        target,
        event.user_id,
        event.remote_addr,
        event.request_id,
    )
    return event
