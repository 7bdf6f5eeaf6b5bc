"""`fallback: legacy`: legacy answers what the new side failed to answer.

On entries whose requests can reach the new side (`new`, `canary`, `match`), for idempotent
methods only: sending one again to legacy after the new side failed has the same effect as
sending it once (RFC 9110). The request body is kept (up to `GATEWAY_FALLBACK_BODY_LIMIT`) so
legacy receives it too. The new side's 5xx answers, exceptions raised before answering and
timeouts are not sent: legacy answers instead, and the failed attempt is counted under
side=new, with its reason in `gateway_fallbacks_total`. Both calls go through the one caller
(gateway.pipeline.serving), so each has its timeout, its place in the gauge and its count.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from starlette.types import Receive, Send

from gateway.behaviours.base import Context
from gateway.compare import Answer
from gateway.http.bodies import read_body
from gateway.pipeline.exchange import Exchange, Failed, Outcome
from gateway.routing.methods import IDEMPOTENT_METHODS
from gateway.sides import LEGACY, NEW, SideName, is_new


def serve(
    context: Context,
    exchange: Exchange,
    side: SideName,
    receive: Receive,
    send: Send,
    capture: Answer | None = None,
) -> Coroutine[Any, Any, Outcome]:
    """Serve from `side`, with legacy's fallback where the entry asks for it.

    Hands back the coroutine that serves rather than awaiting it: one frame fewer on the path
    every resumption of the side's app goes through.
    """
    if applies(exchange, side):
        return _with_fallback(context, exchange, receive, send, capture)
    return context.serving.serve(exchange, side, receive, send, capture)


def applies(exchange: Exchange, side: SideName) -> bool:
    """Whether legacy may answer for `side` on this request."""
    entry = exchange.entry
    return (
        is_new(side)
        and entry is not None
        and entry.options.fallback is not None
        and exchange.method in IDEMPOTENT_METHODS
    )


async def _with_fallback(
    context: Context, exchange: Exchange, receive: Receive, send: Send, capture: Answer | None
) -> Outcome:
    serving = context.serving
    buffered = await read_body(receive, context.fallback_body_limit)
    if not buffered.complete:  # too large to send twice, or the client left
        return await serving.serve(exchange, NEW, buffered.replay(receive), send, capture)
    try:
        return await serving.serve(
            exchange, NEW, buffered.replay(receive), send, capture, refuse_5xx=True
        )
    except Failed as failure:
        assert exchange.entry is not None
        context.metrics.fallbacks.labels(exchange.entry.path, failure.reason).inc()
        exchange.fallback_from = NEW
        return await serving.serve(exchange, LEGACY, buffered.replay(receive), send, capture)
