"""The entry's policies around the side its chooser picked: every chooser serves through here.

The order, outermost first: the shadow policy (it needs the client's answer, whoever gave it),
then the fallback (legacy answers what the new side failed), then the side itself through the
one caller. `guard:` acts before the chooser (a rolled-back entry is served by `legacy`) and
after each answer (it subscribes to the outcome bus); `timeout:` is read by the caller.

A request none of them acts on (no shadow, no guard, no fallback for it: a plain `legacy` or
`new` entry, a canary's or a match's side with no policy) takes the caller's plain way
(`Serving.plain`): the same call in one coroutine, counted alike.
"""

from __future__ import annotations

from collections.abc import Awaitable
from functools import partial

from starlette.types import Receive, Send

from gateway.behaviours import fallback
from gateway.behaviours.base import Context
from gateway.behaviours.shadow import ShadowRoute
from gateway.pipeline.exchange import Exchange, Outcome
from gateway.sides import SideName


def serve_side(
    context: Context, exchange: Exchange, side: SideName, receive: Receive, send: Send
) -> Awaitable[Outcome]:
    """Serve from `side` under the entry's policies. Not a coroutine itself: it hands back the
    one that serves, so no frame is added to every resumption of the side's app."""
    state = exchange.state
    # No part in the state: neither a guard nor a shadow route keeps anything for the entry.
    if (state is None or not state.parts) and not fallback.applies(exchange, side):
        return context.serving.plain(exchange, side, receive, send)
    route = state.get(ShadowRoute) if state is not None else None
    if route is None:
        return fallback.serve(context, exchange, side, receive, send)
    return context.shadow.serve(
        exchange, side, receive, send, route, partial(fallback.serve, context)
    )
