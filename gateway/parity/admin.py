"""`/_gateway/api/parity`: the ledger's readiness per route, for the admin API and dashboard.

The ledger is read in a thread (never on the event loop), from the database itself: every
worker (and every replica sharing a PostgreSQL ledger) shows the same figures. Query
parameters: `route`, `method` (repeatable), `since` (as `gateway parity --since`).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import parse_qs

from starlette.types import Scope

from gateway.parity import readiness
from gateway.parity.store import LedgerError, LedgerMissing, ledger_url, shown
from gateway.parity.windows import since_time


async def parity_answer(url: str, scope: Scope) -> tuple[int, dict[str, Any]]:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    since = query.get("since", [None])[-1]
    where = {"ledger": shown(ledger_url(url))}
    try:
        start = since_time(since, time.time()) if since else None
    except ValueError as exc:
        return 400, {"error": "bad_since", "detail": str(exc)}
    try:
        routes = await asyncio.to_thread(
            readiness.read,
            url,
            route=query.get("route", [None])[-1],
            methods=query.get("method"),
            since=start,
        )
    except LedgerMissing as exc:
        return 200, {**where, "routes": [], "detail": str(exc)}
    except LedgerError as exc:
        return 503, {**where, "error": "ledger_unavailable", "detail": str(exc)}
    return 200, {**where, "since": start, "routes": [route.as_dict() for route in routes]}
