"""`target: legacy` and `target: new`: every request of the entry to one side."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from starlette.types import Receive, Send

from gateway.behaviours.base import Context
from gateway.behaviours.fallback import serve_side
from gateway.behaviours.guard import describe_guard
from gateway.exchange import Exchange
from gateway.route_options import Side

if TYPE_CHECKING:
    from gateway.route_state import EntryState
    from gateway.table import RouteEntry


class _Direct:
    name: ClassVar[str]
    side: ClassVar[Side]

    def __init__(self, context: Context) -> None:
        self.context = context

    async def __call__(self, exchange: Exchange, receive: Receive, send: Send) -> None:
        await serve_side(self.context, exchange, self.side, receive, send)

    @staticmethod
    def summary(entry: RouteEntry) -> str:
        return entry.target

    @staticmethod
    def describe(entry: RouteEntry, state: EntryState | None) -> dict[str, Any]:
        return {"fallback": entry.options.fallback, "guard": describe_guard(state)}


class Legacy(_Direct):
    name = "legacy"
    side = "legacy"


class New(_Direct):
    name = "new"
    side = "new"
