"""`target: legacy` and `target: new`: every request of the entry to one side."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, ClassVar, Literal

from starlette.types import Receive, Send

from gateway.behaviours.base import Context
from gateway.behaviours.chain import serve_side
from gateway.behaviours.guard import describe_guard
from gateway.behaviours.shadow import with_shadow
from gateway.options.entry import SIDE_POLICIES, EntryOptions
from gateway.pipeline.entry_state import EntryState
from gateway.pipeline.exchange import Exchange
from gateway.routing.table import RouteEntry
from gateway.sides import LEGACY, NEW, SideName


class _Direct:
    name: ClassVar[str]
    options: ClassVar[type[EntryOptions]]
    side: ClassVar[SideName]

    def __init__(self, context: Context) -> None:
        self.context = context

    def __call__(self, exchange: Exchange, receive: Receive, send: Send) -> Awaitable[object]:
        # Returns serve_side's awaitable rather than awaiting it: one frame fewer on the path
        # every resumption of the side's app goes through.
        return serve_side(self.context, exchange, self.side, receive, send)

    @staticmethod
    def summary(entry: RouteEntry) -> str:
        return entry.target

    @staticmethod
    def describe(entry: RouteEntry, state: EntryState | None) -> dict[str, Any]:
        described = {"fallback": entry.options.fallback, "guard": describe_guard(state)}
        return with_shadow(described, entry, state)


class LegacyOptions(EntryOptions):
    target: Literal["legacy"]
    rolls_out = True  # an aborted rollout rests here until resumed


class NewOptions(EntryOptions):
    target: Literal["new"]
    accepts = frozenset(SIDE_POLICIES)

    @property
    def serves_new(self) -> bool:
        return True

    @property
    def moved(self) -> bool:
        return True


class Legacy(_Direct):
    name: ClassVar[str] = "legacy"
    options: ClassVar[type[EntryOptions]] = LegacyOptions
    side: ClassVar[SideName] = LEGACY


class New(_Direct):
    name: ClassVar[str] = "new"
    options: ClassVar[type[EntryOptions]] = NewOptions
    side: ClassVar[SideName] = NEW
