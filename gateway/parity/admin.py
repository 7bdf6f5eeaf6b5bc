"""`/_gateway/api/parity`: the ledger's readiness per route, for the admin API and dashboard.

The ledger is read in a thread (never on the event loop), from the database itself: every
worker (and every replica sharing a PostgreSQL ledger) shows the same figures. Query
parameters: `route`, `method` (repeatable), `since` (as `gateway parity --since`), and
`signatures` (SIGNATURES_SHOWN): each route shows its most frequent signatures with at most
SAMPLES_SHOWN samples each, and counts the rest in `more_signatures`, so that the answer stays
small (the dashboard polls it) however many signatures a route has.
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

SIGNATURES_SHOWN = 20
SAMPLES_SHOWN = 2


async def parity_answer(url: str, scope: Scope) -> tuple[int, dict[str, Any]]:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    since = query.get("since", [None])[-1]
    where = {"ledger": shown(ledger_url(url))}
    try:
        start = since_time(since, time.time()) if since else None
    except ValueError as exc:
        return 400, {"error": "bad_since", "detail": str(exc)}
    try:
        limit = max(1, min(int(query.get("signatures", [SIGNATURES_SHOWN])[-1]), 1000))
    except ValueError:
        return 400, {"error": "bad_signatures", "detail": "signatures: a whole number"}
    try:
        routes = await asyncio.to_thread(
            readiness.read,
            url,
            route=query.get("route", [None])[-1],
            methods=query.get("method"),
            since=start,
            signatures=limit,
        )
    except LedgerMissing as exc:
        return 200, {**where, "routes": [], "detail": str(exc)}
    except LedgerError as exc:
        return 503, {**where, "error": "ledger_unavailable", "detail": str(exc)}
    for route in routes:
        del route.match_samples[:-SAMPLES_SHOWN]
        for signature in route.differences:
            del signature.samples[:-SAMPLES_SHOWN]
    return 200, {**where, "since": start, "routes": [route.as_dict() for route in routes]}
