"""Calling a side and publishing its answer, in one step; and calling it for a copy."""

from __future__ import annotations

import time
from collections.abc import Coroutine
from typing import Any

from starlette.types import Receive, Send

from gateway.compare import Answer
from gateway.http.body_limits import has_body
from gateway.pipeline.caller import SideCaller
from gateway.pipeline.exchange import Exchange, Failed, Outcome
from gateway.pipeline.outcomes import OutcomeBus
from gateway.sides import Side, SideName, is_new


class Serving:
    def __init__(self, sides: dict[SideName, Side], caller: SideCaller, bus: OutcomeBus) -> None:
        self.sides = sides
        self.caller = caller
        self.bus = bus
        # False: every request takes `serve`, the fast path's reference in tests that compare.
        self.fast_path = True

    def plain(
        self, exchange: Exchange, side_name: SideName, receive: Receive, send: Send
    ) -> Coroutine[Any, Any, Outcome]:
        """`serve` for a request no policy acts on, in one coroutine (SideCaller.plain).

        Not a coroutine itself: it hands back the one that serves. A body sent to the new side
        is `serve`'s: the caller applies the body limits to it (legacy's are the bridge's).
        """
        if not self.fast_path or (is_new(side_name) and has_body(exchange.child_scope)):
            return self.serve(exchange, side_name, receive, send)
        side = self.sides[side_name]
        return self.caller.plain(exchange, side, receive, send, self.bus.account)

    async def serve(
        self,
        exchange: Exchange,
        side_name: SideName,
        receive: Receive,
        send: Send,
        capture: Answer | None = None,
        refuse_5xx: bool = False,
    ) -> Outcome:
        """Serve the client from one side, and publish the answer (see SideCaller.call).

        With `refuse_5xx`, an answer that legacy may give instead raises Failed, published as
        the side's failed attempt.
        """
        side = self.sides[side_name]
        started = time.perf_counter()
        outcome = Outcome()
        try:
            await self.caller.call(exchange, side, receive, send, outcome, capture, refuse_5xx)
        except Failed as failure:
            outcome.status = failure.status
            raise
        finally:
            self.bus.account(exchange, side, outcome, started)
        return outcome

    async def copy(
        self, exchange: Exchange, side_name: SideName, body: bytes, answer: Answer
    ) -> None:
        """Call one side with a copy of a request; its answer goes to `answer`, nowhere else.

        Not published: a copy is no answer to a client, so it never feeds the metrics of served
        traffic nor a guard (the shadow policy counts it). It shows in the in-progress gauge.
        """
        await self.caller.capture(exchange, self.sides[side_name], body, answer)
