"""The one place where an answer is counted: the guard, the metrics and the access log.

Every path through the gateway (a side's answer, a fallback's failed attempt and legacy's
answer after it, a shadowed primary, the gateway's own refusals) ends here, so the three views
of a request never disagree.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from gateway.exchange import Exchange, Outcome
from gateway.observe.access_log import log_request
from gateway.observe.metrics import UNMATCHED_ROUTE, GatewayMetrics, method_label
from gateway.sides import Side, SideName

if TYPE_CHECKING:
    from gateway.control.route_state import RouteStates


class Accounting:
    def __init__(self, metrics: GatewayMetrics, states: RouteStates, access_log: bool) -> None:
        self.metrics = metrics
        self.states = states
        self.access_log = access_log

    def account(self, exchange: Exchange, side: Side, outcome: Outcome, started: float) -> None:
        """Count one side's answer.

        `started` is when this side was called. The guard judges the side's own latency; the
        metrics and the log measure from the request's start, except after a fallback, where
        legacy's latency is its own and not the failed attempt's too.
        """
        name: SideName = "new" if side.name == "new" else "legacy"
        self._observed(exchange, name, outcome.guard_status, time.perf_counter() - started)
        since = started if exchange.fallback_from is not None else None
        route = self.route(exchange, side)
        self.record(exchange, route, side.name, outcome.status, since, outcome.failed)

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
        method = method_label(exchange.method)
        self.metrics.count(route, side, method, str(status), duration)
        if failed:
            self.metrics.failed_responses.labels(route, side, method).inc()
        if self.access_log:
            self.log(exchange, route, side, status, duration, failed)

    def log(
        self,
        exchange: Exchange,
        route: str,
        side: str,
        status: int,
        duration: float,
        failed: bool = False,
    ) -> None:
        client = exchange.scope.get("client")
        log_request(
            request_id=exchange.request_id.decode("ascii"),
            method=exchange.method,
            path=exchange.path,
            route=route,
            side=side,
            status=status,
            duration=duration,
            client=_host_port(client) if client else None,
            target=exchange.entry.target if exchange.entry is not None else None,
            fallback_from=exchange.fallback_from,
            decision=exchange.decision,
            failed=failed,
        )

    def _observed(self, exchange: Exchange, side: SideName, status: int, duration: float) -> None:
        state = exchange.state
        if state is None or state.guard is None:
            return
        self.states.observed(state, state.guard.observe(side, status, duration))


def _host_port(client: tuple[str, int]) -> str:
    # An IPv6 address is bracketed, as in a URL: `2001:db8::7:4711` reads two ways.
    host, port = client
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
