from __future__ import annotations

from flask import Blueprint, Response, abort, jsonify
from sqlalchemy import select

from legacy_app import audit
from legacy_app.dbsession import get_db
from legacy_app.models import COMMENT_MAX_LENGTH, Comment, utcnow
from legacy_app.pagination import paginate
from legacy_app.permissions import current_user
from legacy_app.serializers import comment_to_dict
from legacy_app.tickets import get_ticket_or_404
from legacy_app.validation import check_string, json_object, required

bp = Blueprint("comments", __name__)


@bp.get("/tickets/<int:ticket_id>/comments")
def list_comments(ticket_id: int) -> Response:
    get_ticket_or_404(ticket_id)
    stmt = select(Comment).where(Comment.ticket_id == ticket_id).order_by(Comment.id)
    return jsonify(paginate(get_db(), stmt, comment_to_dict))


@bp.post("/tickets/<int:ticket_id>/comments")
def create_comment(ticket_id: int) -> tuple[Response, int]:
    data = json_object()
    body = check_string(required(data, "body"), "body", min_length=1, max_length=COMMENT_MAX_LENGTH)
    ticket = get_ticket_or_404(ticket_id)
    if ticket.status == "closed":
        abort(409, f"Ticket {ticket_id} is closed")
    now = utcnow()
    comment = Comment(ticket_id=ticket.id, author_id=current_user().id, body=body, created_at=now)
    # A reply is activity on the ticket: queues sort by updated_at.
    ticket.updated_at = now
    session = get_db()
    session.add(comment)
    session.flush()
    audit.record("comment.create", f"ticket:{ticket.id}")
    session.commit()
    return jsonify(comment_to_dict(comment)), 201
