"""`target: shadow`: `primary` answers every request, and the other side gets a copy.

Sugar over a direct chooser and the shadow policy (gateway.behaviours.shadow), kept because it
reads as what it does and because a rollout starts from it: once the parity gate passes, the
rollout controller makes it a canary (keeping the shadow policy with `keep_shadow: true`).
Without `shadow:` its copies use the policy's defaults; `shadow_unsafe` copies writes too.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, ClassVar, Literal

from pydantic import model_validator
from starlette.types import Receive, Send

from gateway.behaviours.base import Context
from gateway.behaviours.chain import serve_side
from gateway.behaviours.shadow import describe_shadow
from gateway.options.entry import EntryOptions
from gateway.options.shadow import ShadowOptions
from gateway.pipeline.entry_state import EntryState
from gateway.pipeline.exchange import Exchange
from gateway.routing.table import RouteEntry
from gateway.sides import LEGACY, NEW, SideName

# Options only this chooser takes: dropped when a rollout makes the entry a canary.
OWN_KEYS = ("primary",)


class ShadowEntryOptions(EntryOptions):
    target: Literal["shadow"]
    primary: SideName = LEGACY
    accepts = frozenset({"timeout"})  # the primary's; fallback and guard need a canary
    rolls_out = True

    @model_validator(mode="after")
    def _rollout_has_a_parity_gate(self) -> ShadowEntryOptions:
        # A shadow entry's rollout starts once the comparisons agree: without a gate it would
        # become a canary on the first pass, unjudged.
        if self.rollout is not None and self.rollout.min_match_ratio is None:
            raise ValueError("a rollout from target 'shadow' needs rollout.min_match_ratio")
        if self.rollout is not None and self.primary != LEGACY:
            raise ValueError("a rollout from target 'shadow' needs primary: legacy")
        return self

    @property
    def shadow_policy(self) -> ShadowOptions:
        return self.shadow or ShadowOptions()

    @property
    def serves_new(self) -> bool:
        return self.primary == NEW

    @property
    def moved(self) -> bool:
        return self.primary == NEW


class Shadow:
    """`target: shadow`: the primary answers; the other side gets a copy, compared afterwards."""

    name: ClassVar[str] = "shadow"
    options: ClassVar[type[EntryOptions]] = ShadowEntryOptions

    def __init__(self, context: Context) -> None:
        self.context = context

    def __call__(self, exchange: Exchange, receive: Receive, send: Send) -> Awaitable[object]:
        entry = exchange.entry
        assert entry is not None and isinstance(entry.options, ShadowEntryOptions)
        return serve_side(self.context, exchange, entry.options.primary, receive, send)

    @staticmethod
    def summary(entry: RouteEntry) -> str:
        assert isinstance(entry.options, ShadowEntryOptions)
        return f"shadow ({entry.options.primary} answers)"

    @staticmethod
    def describe(entry: RouteEntry, state: EntryState | None) -> dict[str, Any]:
        assert isinstance(entry.options, ShadowEntryOptions)
        return {"primary": entry.options.primary, "shadow": describe_shadow(state)}
