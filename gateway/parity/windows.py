"""`--since`: a duration back from now (`90s`, `15m`, `2h`, `7d`, `1w`) or a point in time."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def since_time(text: str, now: float) -> float:
    """Unix time from `text`; a time without a zone is UTC. Raises ValueError saying why."""
    text = text.strip()
    match = _DURATION.fullmatch(text.lower())
    if match is not None:
        return now - float(match.group(1)) * _UNITS[match.group(2)]
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"since {text!r}: give a duration (90s, 15m, 2h, 7d, 1w) "
            "or a time (2026-01-31T12:00:00Z)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
