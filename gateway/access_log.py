"""One structured (JSON) line per request, on the `gateway.access` logger.

It replaces uvicorn's access log (which `gateway serve` switches off), since only the gateway
knows the route template and the side that answered.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

logger = logging.getLogger("gateway.access")


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
) -> None:
    if not logger.isEnabledFor(logging.INFO):
        return
    record: dict[str, object] = {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
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
    logger.info(json.dumps(record, ensure_ascii=False))
