"""The outcome bus: every answer a side gave a client goes through here, once.

Every path through the gateway (a chooser's side, a fallback's failed attempt and legacy's
answer after it, a shadowed primary, the gateway's own refusals) ends here, so the metrics, the
access log and whatever judges the sides (a guard subscribes) never disagree. Copies sent to
the other side for comparison are not answers to a client and never come here: they are
counted by the shadow policy, apart from served traffic.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from gateway.observe.accounting import Accounting, Answered
from gateway.observe.metrics import UNMATCHED_ROUTE
from gateway.pipeline.exchange import Exchange, Outcome
from gateway.sides import Side, SideName

# Told each side's answer: the exchange, the side, the status judged (a cut answer is a 500)
# and the side's own time; it must be quick and must not raise.
Subscriber = Callable[[Exchange, SideName, int, float], None]


class OutcomeBus:
    def __init__(self, accounting: Accounting) -> None:
        self.accounting = accounting
        self.subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.append(subscriber)

    def account(self, exchange: Exchange, side: Side, outcome: Outcome, started: float) -> None:
        """Publish one side's answer.

        `started` is when this side was called. Subscribers judge the side's own latency; the
        metrics and the log measure from the request's start, except after a fallback, where
        legacy's latency is its own and not the failed attempt's too.
        """
        now = time.perf_counter()
        for subscriber in self.subscribers:
            subscriber(exchange, side.name, outcome.guard_status, now - started)
        since = started if exchange.fallback_from is not None else exchange.started
        route = self.route(exchange, side)
        answer = answered(exchange, route, side.name, outcome.status, now - since, outcome.failed)
        self.accounting.record(answer)

    def route(self, exchange: Exchange, side: Side) -> str:
        """The route label: the entry's template, else the answering side's own route."""
        if exchange.entry is not None:
            return exchange.entry.path
        return side.route_of(exchange.child_scope) or UNMATCHED_ROUTE

    def record(
        self,
        exchange: Exchange,
        route: str,
        side: str,
        status: int,
        since: float | None = None,
        failed: bool = False,
    ) -> None:
        """Count one answer; its duration runs from `since` (default: the request's start)."""
        duration = time.perf_counter() - (since if since is not None else exchange.started)
        self.accounting.record(answered(exchange, route, side, status, duration, failed))

    def log(self, exchange: Exchange, route: str, side: str, status: int) -> None:
        """Log an answer without counting it (the gateway's own endpoints)."""
        if self.accounting.access_log is not None or self.accounting.traced is not None:
            duration = time.perf_counter() - exchange.started
            self.accounting.log(answered(exchange, route, side, status, duration))


def answered(
    exchange: Exchange, route: str, side: str, status: int, duration: float, failed: bool = False
) -> Answered:
    entry = exchange.entry
    return Answered(
        request_id=exchange.request_id,
        method=exchange.method,
        path=exchange.path,
        route=route,
        side=side,
        status=status,
        duration=duration,
        client=exchange.scope.get("client"),
        target=entry.target if entry is not None else None,
        fallback_from=exchange.fallback_from,
        decision=exchange.decision,
        failed=failed,
    )
