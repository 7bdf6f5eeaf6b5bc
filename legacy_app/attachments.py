from __future__ import annotations

import io

from flask import Blueprint, Response, abort, current_app, jsonify, request, send_file
from werkzeug.utils import secure_filename

from legacy_app import audit
from legacy_app.db import get_row
from legacy_app.dbsession import get_db
from legacy_app.models import Attachment
from legacy_app.permissions import can_edit, can_view
from legacy_app.serializers import attachment_to_dict
from legacy_app.tickets import get_ticket_or_404
from legacy_app.validation import invalid

bp = Blueprint("attachments", __name__)

DEFAULT_CONTENT_TYPE = "application/octet-stream"


@bp.post("/tickets/<int:ticket_id>/attachments")
def upload_attachment(ticket_id: int) -> tuple[Response, int, dict[str, str]]:
    ticket = get_ticket_or_404(ticket_id)
    if not can_edit(ticket):
        abort(403, f"You cannot edit ticket {ticket_id}")
    upload = request.files.get("file")
    if upload is None:
        invalid("file", "is required")
    data = upload.read()
    limit: int = current_app.config["MAX_UPLOAD_BYTES"]
    if len(data) > limit:
        abort(413, f"Attachment exceeds the maximum size of {limit} bytes")
    attachment = Attachment(
        ticket_id=ticket.id,
        filename=secure_filename(upload.filename or "") or "attachment",
        content_type=upload.mimetype or DEFAULT_CONTENT_TYPE,
        size=len(data),
        data=data,
    )
    session = get_db()
    session.add(attachment)
    session.flush()
    audit.record("attachment.create", f"ticket:{ticket.id}")
    session.commit()
    location = f"/api/attachments/{attachment.id}"
    return jsonify(attachment_to_dict(attachment)), 201, {"Location": location}


@bp.get("/attachments/<int:attachment_id>")
def download_attachment(attachment_id: int) -> Response:
    attachment = get_row(get_db(), Attachment, attachment_id)
    if attachment is None or not can_view(attachment.ticket):
        abort(404, f"Attachment {attachment_id} not found")
    return send_file(
        io.BytesIO(attachment.data),
        mimetype=attachment.content_type,
        as_attachment=True,
        download_name=attachment.filename,
    )
