"""What every chooser is, and what it serves with.

A chooser serves the requests of the entries whose `target` names it: it decides which side
answers, then hands the request to the entry's policies (gateway.behaviours.chain), which
call the side through `Serving`: the side is called and its answer counted in one step, so no
chooser or policy counts anything itself. A chooser also says how its entries read in the
admin API, the dashboard and `gateway routes`.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from starlette.types import Receive, Send

from gateway.behaviours.facts import SessionReader
from gateway.observe.metrics import GatewayMetrics
from gateway.options.entry import EntryOptions
from gateway.pipeline.entry_state import EntryState
from gateway.pipeline.exchange import Exchange
from gateway.pipeline.serving import Serving
from gateway.routing.table import RouteEntry

if TYPE_CHECKING:
    from gateway.behaviours.shadow import ShadowRunner


@dataclass(frozen=True, slots=True)
class Context:
    """Everything a chooser or policy may need, built once by `create_app`."""

    serving: Serving
    metrics: GatewayMetrics
    session: SessionReader | None  # the legacy app's signed session, when it has one
    shadow: ShadowRunner
    fallback_body_limit: int = 1 << 20


class Behaviour(Protocol):
    name: ClassVar[str]  # the `target` of the entries it serves
    options: ClassVar[type[EntryOptions]]  # the model of its entries' options

    def __init__(self, context: Context) -> None: ...

    def __call__(self, exchange: Exchange, receive: Receive, send: Send) -> Awaitable[object]:
        """Serve one request of an entry with this target (the awaitable that serves it)."""

    @staticmethod
    def summary(entry: RouteEntry) -> str:
        """A few words for `gateway routes` and the dashboard, e.g. `canary 25%`."""

    @staticmethod
    def describe(entry: RouteEntry, state: EntryState | None) -> dict[str, Any]:
        """The entry's options and state for the admin API (JSON)."""
