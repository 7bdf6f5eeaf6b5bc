"""One structured (JSON) line per request, on the `gateway.access` logger.

It replaces uvicorn's access log (which `gateway serve` switches off), since only the gateway
knows the route template and the side that answered.

Records are written with `ensure_ascii`: a path may hold characters that some readers take as a
line break (U+0085, U+2028, U+2029 for Python's `str.splitlines()`) or that reorder what a
terminal shows; escaped, every record is one line for any reader and shows what was sent.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

logger = logging.getLogger("gateway.access")


def log_time() -> str:
    """Now, as every JSON line the gateway writes gives it: ISO 8601, UTC, milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def log_request(
    *,
    request_id: str,
    method: str,
    path: str,
    route: str,
    side: str,
    status: int,
    duration: float,
    client: str | None,
    target: str | None = None,
    fallback_from: str | None = None,
    decision: str | None = None,
    failed: bool = False,
    trace: tuple[str, str] | None = None,
) -> None:
    if not logger.isEnabledFor(logging.INFO):
        return
    record: dict[str, object] = {
        "time": log_time(),
        "event": "request",
        "request_id": request_id,
        "method": method,
        "path": path,
        "route": route,
        "side": side,
        "status": status,
        "duration_ms": round(duration * 1000, 3),
        "client": client,
    }
    if target is not None:
        record["target"] = target
    if fallback_from is not None:
        record["fallback_from"] = fallback_from
    if decision is not None:
        record["decision"] = decision  # what chose the side, e.g. a match rule
    if failed:
        record["failed"] = True  # the answer started, then the side failed: the client saw it cut
    if trace is not None:  # with tracing on: the request's trace and SERVER span
        record["trace_id"], record["span_id"] = trace
    logger.info(json.dumps(record))
