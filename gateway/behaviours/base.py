"""What every routing behaviour is, and what it serves with.

A behaviour serves the requests of the entries whose `target` names it: it decides which side
answers (and, for shadow, which side gets a copy) and serves through `Serving`, which calls the
side and counts the answer in one step, so no behaviour counts anything itself. A behaviour
also says how its entries read in the admin API, the dashboard and `gateway routes`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from starlette.types import Receive, Send

from gateway.behaviours.compare import Answer
from gateway.exchange import Exchange, Outcome
from gateway.observe.accounting import Accounting
from gateway.observe.metrics import GatewayMetrics
from gateway.serving import SideCaller
from gateway.sides import Side, SideName

if TYPE_CHECKING:
    from gateway.behaviours.facts import SessionReader
    from gateway.behaviours.options import EntryOptions
    from gateway.behaviours.shadow import ShadowRunner
    from gateway.control.route_state import EntryState
    from gateway.routing.table import RouteEntry


class Serving:
    """Calling a side and counting its answer, in one step."""

    def __init__(self, sides: dict[str, Side], caller: SideCaller, accounting: Accounting) -> None:
        self.sides = sides
        self.caller = caller
        self.accounting = accounting

    async def serve(
        self,
        exchange: Exchange,
        side_name: SideName,
        receive: Receive,
        send: Send,
        capture: Answer | None = None,
    ) -> Outcome:
        side = self.sides[side_name]
        started = time.perf_counter()
        outcome = Outcome()
        try:
            await self.caller.call(exchange, side, receive, send, outcome, capture)
        finally:
            self.accounting.account(exchange, side, outcome, started)
        return outcome


@dataclass(frozen=True, slots=True)
class Context:
    """Everything a behaviour may need, built once by `create_app`."""

    serving: Serving
    metrics: GatewayMetrics
    session: SessionReader | None  # the legacy app's signed session, when it has one
    shadow: ShadowRunner
    fallback_body_limit: int = 1 << 20


class Behaviour(Protocol):
    name: ClassVar[str]  # the `target` of the entries it serves
    options: ClassVar[type[EntryOptions]]  # the model of its entries' options

    def __init__(self, context: Context) -> None: ...

    async def __call__(self, exchange: Exchange, receive: Receive, send: Send) -> None:
        """Serve one request of an entry with this target."""

    @staticmethod
    def summary(entry: RouteEntry) -> str:
        """A few words for `gateway routes` and the dashboard, e.g. `canary 25%`."""

    @staticmethod
    def describe(entry: RouteEntry, state: EntryState | None) -> dict[str, Any]:
        """The entry's options and state for the admin API (JSON)."""
