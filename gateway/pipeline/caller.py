"""Calling one side for one request, and the answers the gateway gives in its place.

The one way a side is called: by every chooser, by a fallback's attempt and legacy's answer
after it, and by the shadow policy's copies (`capture`). The caller adds the gateway's headers
to the side's answer, gives the new side until its timeout to start answering, keeps the
in-progress gauge, and turns what a side could not answer (an exception before any answer, a
`Refused` raised by the WSGI bridge, a timeout) into the gateway's own answer, in the
deployment's error shape. What it sent is left in an `Outcome` for the one place that counts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from functools import cache

from starlette.types import Message, Receive, Send

from gateway.compare import Answer
from gateway.http import headers
from gateway.http.bodies import replay_body
from gateway.http.body_limits import BodyLimits
from gateway.http.error_shape import ErrorShape
from gateway.http.responses import Refused, send_json
from gateway.observe.metrics import GatewayMetrics
from gateway.pipeline.deadline import Deadline, DeadlineClock
from gateway.pipeline.exchange import Exchange, Failed, Outcome
from gateway.sides import Side, is_new

logger = logging.getLogger("gateway")

GATEWAY_SIDE = "gateway"  # the X-Gateway-Side of answers the gateway gives itself

# Publishes one side's answer once its call is over (OutcomeBus.account): the exchange, the
# side, what it sent and when it was called.
Account = Callable[[Exchange, Side, Outcome, float], None]


class SideCaller:
    def __init__(
        self,
        metrics: GatewayMetrics,
        *,
        error_shape: ErrorShape | None = None,
        new_timeout: float = 30.0,
        side_header: bool = True,
        body_limits: BodyLimits | None = None,
    ) -> None:
        self.metrics = metrics
        # The new side's request bodies; the WSGI bridge applies the same limits itself.
        self.body_limits = body_limits or BodyLimits()
        self.error_shape = error_shape or ErrorShape()
        self.new_timeout = new_timeout
        self.side_header = side_header
        self._clock = DeadlineClock()  # the new side's deadlines
        # The names of the headers the gateway adds to every answer, for `plain`.
        self._added = frozenset(
            (headers.REQUEST_ID, headers.SIDE) if side_header else (headers.REQUEST_ID,)
        )

    async def call(
        self,
        exchange: Exchange,
        side: Side,
        receive: Receive,
        send: Send,
        outcome: Outcome,
        capture: Answer | None = None,
        refuse_5xx: bool = False,
    ) -> None:
        """Call a side with the gateway's headers added; a failure before any answer is a 500.

        The status sent is left in `outcome`, also when the side raises. With `refuse_5xx`, a
        5xx answer, a timeout or an exception raised before answering is not sent but raised
        as Failed, so that legacy can answer instead. The new side has until its timeout to
        start answering; once it has, a slow body is the client's to wait for.
        """
        extra: headers.Headers = [(headers.REQUEST_ID, exchange.request_id)]
        if self.side_header:
            extra.append((headers.SIDE, side.name.encode("ascii")))
        refused = 0
        deadline: Deadline | None = None
        # A body limit the new app's read ran into: the app's answer to the exception it got
        # (Starlette sends a 500) is dropped, and the gateway answers the refusal instead.
        body_refusal: list[Refused] = []

        async def send_with_headers(message: Message) -> None:
            nonlocal refused
            kind = message["type"]
            if body_refusal:
                return
            if kind == "http.response.start":
                if deadline is not None:
                    deadline.disarm()
                if refuse_5xx and message["status"] >= 500:
                    refused = message["status"]
                    return
                outcome.status = message["status"]
                message["headers"] = headers.with_headers(message.get("headers", ()), extra)
                if capture is not None:
                    capture.status, capture.headers = outcome.status, list(message["headers"])
            elif refused:
                return  # the body of an answer that will not be sent
            elif kind == "http.response.body":
                if capture is not None:
                    capture.add_body(message.get("body", b""))
                outcome.complete = not message.get("more_body", False)
            await send(message)

        new = is_new(side.name)
        in_progress = self.metrics.running(side.name)
        in_progress.inc()
        try:
            if new:
                receive = self._limited(exchange, receive, body_refusal)
                deadline = Deadline(self.timeout(exchange), self._clock)
            try:
                await side.app(exchange.child_scope, receive, send_with_headers)
            except asyncio.CancelledError:
                if deadline is not None and deadline.settle():
                    raise TimeoutError from None  # the deadline's own cancellation
                raise  # the client left, the server stops: cancelled it stays
            finally:
                if deadline is not None:
                    deadline.settle()
        except Exception as exc:
            refusal = body_refusal[0] if body_refusal else None
            await self._raised(
                exc, exchange, side, send, outcome, deadline, refusal, capture, refuse_5xx
            )
        finally:
            in_progress.dec()
        if body_refusal and not outcome.status:  # the app caught it and answered: still refused
            await self._refused(exchange, send, outcome, body_refusal[0], capture)
        if refused:
            raise Failed("status", refused)

    async def plain(
        self, exchange: Exchange, side: Side, receive: Receive, send: Send, account: Account
    ) -> Outcome:
        """`call` for a call nothing acts around, published by `account` as it ends.

        The way of requests no policy acts on (no shadow copy, no fallback, no guard: see
        gateway.behaviours.chain) and with no body for the caller to guard: one coroutine from
        the gateway's front to the side, with none of `call`'s provisions for a capture, a
        refused 5xx or a body refusal. What the side raises is answered by `call`'s own code
        (`_raised`), so refusals, timeouts and the error shape are the same either way.
        """
        started = time.perf_counter()
        outcome = Outcome()
        extra: headers.Headers = [(headers.REQUEST_ID, exchange.request_id)]
        if self.side_header:
            extra.append(_side_header(side.name))
        added = self._added
        deadline: Deadline | None = None

        async def send_with_headers(message: Message) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                if deadline is not None:
                    deadline.disarm()
                outcome.status = message["status"]
                message["headers"] = headers.replaced(message.get("headers", ()), extra, added)
            elif kind == "http.response.body":
                outcome.complete = not message.get("more_body", False)
            await send(message)

        in_progress = self.metrics.running(side.name)
        in_progress.inc()
        try:
            if is_new(side.name):
                deadline = Deadline(self.timeout(exchange), self._clock)
            try:
                await side.app(exchange.child_scope, receive, send_with_headers)
            except asyncio.CancelledError:
                if deadline is not None and deadline.settle():
                    raise TimeoutError from None  # the deadline's own cancellation
                raise  # the client left, the server stops: cancelled it stays
            finally:
                if deadline is not None:
                    deadline.settle()
        except Exception as exc:
            await self._raised(exc, exchange, side, send, outcome, deadline)
        finally:
            in_progress.dec()
            account(exchange, side, outcome, started)
        return outcome

    async def _raised(
        self,
        exc: Exception,
        exchange: Exchange,
        side: Side,
        send: Send,
        outcome: Outcome,
        deadline: Deadline | None,
        body_refusal: Refused | None = None,
        capture: Answer | None = None,
        refuse_5xx: bool = False,
    ) -> None:
        """What a call that raised `exc` answers: the one place both ways of calling turn a
        side's failure into the gateway's answer (or raise it on, once the answer started)."""
        if isinstance(exc, TimeoutError):
            if deadline is None or not deadline.expired or outcome.status:
                await self._failed(exchange, side, send, outcome, capture, refuse_5xx, exc)
                return
            if refuse_5xx:
                raise Failed("timeout", 504) from None
            detail = f"the {side.name} side did not start its answer within {deadline.delay:g} s"
            refusal = Refused(504, "timeout", detail, side=side.name)
            await self._refused(exchange, send, outcome, refusal, capture)
        elif isinstance(exc, Refused):
            if outcome.status:
                outcome.failed = True
                raise exc
            if refuse_5xx and exc.status >= 500:  # a side over HTTP unreachable, say
                raise Failed(exc.error, exc.status) from None
            await self._refused(exchange, send, outcome, exc, capture)
        elif body_refusal is not None and not outcome.status:
            await self._refused(exchange, send, outcome, body_refusal, capture)
        else:
            await self._failed(exchange, side, send, outcome, capture, refuse_5xx, exc)

    async def capture(self, exchange: Exchange, side: Side, body: bytes, answer: Answer) -> None:
        """Call a side with a copy of a request for its answer alone, kept in `answer`.

        Nothing reaches a client: the answer goes to `answer` only. The copy gets the whole
        body, then a disconnect once the call is over; whatever the side raised, or the answer
        the gateway gave in its place, is in `answer.exception`.
        """
        done = asyncio.Event()
        try:
            await self.call(exchange, side, replay_body(body, done), _nowhere, Outcome(), answer)
        except Exception as exc:  # raised after the side had started its answer
            answer.exception = exc
        finally:
            done.set()

    def _limited(self, exchange: Exchange, receive: Receive, refusals: list[Refused]) -> Receive:
        """The new side's `receive` under the body limits; a refusal is kept in `refusals`."""
        guarded = self.body_limits.guard(exchange.child_scope, receive)  # may raise Refused(413)
        if guarded is receive:  # no body, nothing to guard: no wrapper on the common path
            return receive

        async def limited() -> Message:
            try:
                return await guarded()
            except Refused as refusal:
                refusals.append(refusal)
                raise

        return limited

    def timeout(self, exchange: Exchange) -> float:
        """The new side's timeout for this request: its entry's, or the default."""
        entry = exchange.entry
        if entry is not None and entry.options.timeout is not None:
            return entry.options.timeout
        return self.new_timeout

    async def refuse(
        self, send: Send, refusal: Refused, request_id: bytes, side: str = GATEWAY_SIDE
    ) -> int:
        """Answer in the deployment's error shape; `side` is the X-Gateway-Side value."""
        body = self.error_shape.render(
            refusal.status, refusal.error, refusal.detail, refusal.side, request_id.decode("ascii")
        )
        response_headers: headers.Headers = [*refusal.headers, (headers.REQUEST_ID, request_id)]
        if self.side_header:
            response_headers.append((headers.SIDE, side.encode("ascii")))
        return await send_json(send, refusal.status, body, response_headers)

    async def _failed(
        self,
        exchange: Exchange,
        side: Side,
        send: Send,
        outcome: Outcome,
        capture: Answer | None,
        refuse_5xx: bool,
        exc: Exception,
    ) -> None:
        """A side raised: log it, and answer 500 if nothing was answered yet."""
        if outcome.complete:
            # Starlette re-raises what it already answered with a 500 so that servers log
            # it; the client has its whole answer, so log it here and keep the connection.
            logger.exception(
                "the %s side failed on %s %s", side.name, exchange.method, exchange.path
            )
            if capture is not None:
                capture.exception = exc
            return
        if outcome.status:
            outcome.failed = True  # the client gets a cut answer: counted as failed
            raise exc  # the response has started: the server closes the connection
        if refuse_5xx:
            raise Failed("exception", 500) from exc
        logger.exception("the %s side failed on %s %s", side.name, exchange.method, exchange.path)
        refusal = Refused(500, "internal_error", f"the {side.name} side failed", side=side.name)
        outcome.status = await self.refuse(send, refusal, exchange.request_id, side.name)
        if capture is not None:
            capture.status, capture.exception = 500, exc

    async def _refused(
        self,
        exchange: Exchange,
        send: Send,
        outcome: Outcome,
        refusal: Refused,
        capture: Answer | None = None,
    ) -> None:
        outcome.own = True
        outcome.status = await self.refuse(send, refusal, exchange.request_id)
        if capture is not None:  # the side never answered: what is compared is the refusal
            capture.status, capture.exception = outcome.status, refusal


@cache
def _side_header(name: str) -> tuple[bytes, bytes]:
    return (headers.SIDE, name.encode("ascii"))


async def _nowhere(message: Message) -> None:
    """The `send` of a copy: its answer is captured, not sent."""
