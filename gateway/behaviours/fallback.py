"""`fallback: legacy`: legacy answers what the new side failed to answer.

On entries whose requests can reach the new side (`new`, `canary`, `match`), for idempotent
methods only: sending one again to legacy after the new side failed has the same effect as
sending it once (RFC 9110). The request body is kept (up to `GATEWAY_FALLBACK_BODY_LIMIT`) so
legacy receives it too. The new side's 5xx answers, exceptions raised before answering and
timeouts are not sent: legacy answers instead, and the failed attempt is counted under
side=new, with its reason in `gateway_fallbacks_total`.
"""

from __future__ import annotations

import time

from starlette.types import Receive, Send

from gateway.behaviours.base import Context
from gateway.exchange import Exchange, Failed, Outcome
from gateway.http.bodies import read_body
from gateway.routing.methods import IDEMPOTENT_METHODS
from gateway.sides import SideName as Side


async def serve_side(
    context: Context, exchange: Exchange, side: Side, receive: Receive, send: Send
) -> None:
    """Serve from `side`, with legacy's fallback where the entry asks for it."""
    entry = exchange.entry
    if (
        side == "new"
        and entry is not None
        and entry.options.fallback
        and exchange.method in IDEMPOTENT_METHODS
    ):
        await _with_fallback(context, exchange, receive, send)
    else:
        await context.serving.serve(exchange, side, receive, send)


async def _with_fallback(
    context: Context, exchange: Exchange, receive: Receive, send: Send
) -> None:
    serving = context.serving
    buffered = await read_body(receive, context.fallback_body_limit)
    if not buffered.complete:  # too large to send twice, or the client left
        await serving.serve(exchange, "new", buffered.replay(receive), send)
        return
    new = serving.sides["new"]
    started = time.perf_counter()
    outcome = Outcome()
    try:
        await serving.caller.call(
            exchange, new, buffered.replay(receive), send, outcome, refuse_5xx=True
        )
    except Failed as failure:
        outcome.status = failure.status
        serving.accounting.account(exchange, new, outcome, started)
        assert exchange.entry is not None
        context.metrics.fallbacks.labels(exchange.entry.path, failure.reason).inc()
        exchange.fallback_from = "new"
        await serving.serve(exchange, "legacy", buffered.replay(receive), send)
        return
    except BaseException:
        serving.accounting.account(exchange, new, outcome, started)
        raise
    serving.accounting.account(exchange, new, outcome, started)
