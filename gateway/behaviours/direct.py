"""`target: legacy` and `target: new`: every request of the entry to one side."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from starlette.types import Receive, Send

from gateway.behaviours.base import Context
from gateway.behaviours.fallback import serve_side
from gateway.behaviours.guard import describe_guard
from gateway.behaviours.options import MODIFIERS, EntryOptions
from gateway.exchange import Exchange
from gateway.sides import SideName

if TYPE_CHECKING:
    from gateway.control.route_state import EntryState
    from gateway.routing.table import RouteEntry


class _Direct:
    name: ClassVar[str]
    options: ClassVar[type[EntryOptions]]
    side: ClassVar[SideName]

    def __init__(self, context: Context) -> None:
        self.context = context

    def __call__(
        self, exchange: Exchange, receive: Receive, send: Send
    ) -> Coroutine[Any, Any, None]:
        # Returns serve_side's coroutine rather than awaiting it: one frame fewer on the path
        # every resumption of the side's app goes through.
        return serve_side(self.context, exchange, self.side, receive, send)

    @staticmethod
    def summary(entry: RouteEntry) -> str:
        return entry.target

    @staticmethod
    def describe(entry: RouteEntry, state: EntryState | None) -> dict[str, Any]:
        return {"fallback": entry.options.fallback, "guard": describe_guard(state)}


class LegacyOptions(EntryOptions):
    target: Literal["legacy"]
    rolls_out = True  # an aborted rollout rests here until resumed


class NewOptions(EntryOptions):
    target: Literal["new"]
    modifiers = frozenset(MODIFIERS)

    @property
    def serves_new(self) -> bool:
        return True

    @property
    def moved(self) -> bool:
        return True


class Legacy(_Direct):
    name: ClassVar[str] = "legacy"
    options: ClassVar[type[EntryOptions]] = LegacyOptions
    side: ClassVar[SideName] = "legacy"


class New(_Direct):
    name: ClassVar[str] = "new"
    options: ClassVar[type[EntryOptions]] = NewOptions
    side: ClassVar[SideName] = "new"
