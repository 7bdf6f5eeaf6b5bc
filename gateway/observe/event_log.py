"""Events worth a person's attention (a shadow mismatch), one JSON object per line.

They go to the `gateway.events` logger, which `gateway serve` writes to stderr with no prefix
(see gateway.cli.log_config), so each line is a JSON object as it stands, with the access log's
time format: a log collector reads both the same way and can join them on `request_id`.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from gateway.observe.access_log import log_time

logger = logging.getLogger("gateway.events")


def log_event(event: str, record: dict[str, Any]) -> None:
    """Write `record` as one line, with `time` and `event` first; escaped to ASCII, so a value
    holding a line break (a header, a path) cannot split the line."""
    logger.warning(json.dumps({"time": log_time(), "event": event, **record}))
