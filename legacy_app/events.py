"""A server-sent-events feed: one event every half second, forever unless `?limit=` is given.

It holds a worker (a sync gunicorn worker, or an adapter's thread) for as long as the client
stays connected, which is what makes it useful for testing disconnect handling.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from itertools import count, islice

from flask import Blueprint, Response, stream_with_context

from legacy_app.permissions import current_user
from legacy_app.validation import int_arg

bp = Blueprint("events", __name__)

INTERVAL_SECONDS = 0.5


@bp.get("/stream/events")
def stream_events() -> Response:
    limit = int_arg("limit", default=None)
    return Response(
        stream_with_context(_events(limit)),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _events(limit: int | None) -> Iterator[str]:
    for seq in islice(count(1), limit):
        if seq > 1:
            time.sleep(INTERVAL_SECONDS)
        # current_user() reads `g`: only stream_with_context keeps it available in here.
        data = json.dumps({"seq": seq, "user_id": current_user().id})
        yield f"id: {seq}\nevent: tick\ndata: {data}\n\n"
