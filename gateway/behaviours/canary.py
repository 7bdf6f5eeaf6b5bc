"""Canary weights with sticky cohorts.

A request's key (a header, a cookie, or a value in the legacy app's signed Flask session) is
hashed into one of 10,000 fixed buckets; buckets below `weight * 100` go to the new side. The
hash depends on the key alone, so any gateway process with the same table decides the same for
the same key, with no shared state. Raising the weight only adds buckets: a key never moves back
from new to legacy while the weight rises (monotonic cohorts, as NGINX's split_clients). The same
key lands in the same bucket on every route, so a client moved to the new side on one route at
25% is also on it on every other route at 25% or more, and sees one consistent version.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Awaitable
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field, model_validator
from starlette.types import Receive, Scope, Send

from gateway.behaviours.base import Context
from gateway.behaviours.chain import serve_side
from gateway.behaviours.facts import RequestFacts, SessionReader
from gateway.behaviours.guard import describe_guard
from gateway.behaviours.shadow import with_shadow
from gateway.options.entry import FROZEN, SIDE_POLICIES, EntryOptions
from gateway.pipeline.entry_state import EntryState
from gateway.pipeline.exchange import Exchange
from gateway.routing.table import RouteEntry
from gateway.sides import LEGACY, NEW, SideName

BUCKETS = 10_000
# Options only a canary takes: dropped when a rollout moves the entry to another target.
OWN_KEYS = ("weight", "sticky")
StickyKind = Literal["header", "cookie", "session"]


class Sticky(BaseModel):
    """Where the key that keeps a client on one side of a canary comes from."""

    model_config = FROZEN
    kind: StickyKind
    name: str = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        if isinstance(value, str):
            kind, sep, name = value.partition(":")
            if not sep or kind not in ("header", "cookie", "session"):
                raise ValueError(
                    f"{value!r} must be 'header:<name>', 'cookie:<name>' or 'session:<key>'"
                )
            return {"kind": kind, "name": name.lower() if kind == "header" else name}
        return value

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


class CanaryOptions(EntryOptions):
    target: Literal["canary"]
    weight: float | None = Field(None, ge=0, le=100)
    sticky: Sticky | None = None
    accepts = frozenset(SIDE_POLICIES)
    rolls_out = True

    @model_validator(mode="after")
    def _has_a_weight(self) -> CanaryOptions:
        if self.weight is None:
            raise ValueError("target 'canary' needs a weight (0 to 100)")
        return self

    @property
    def serves_new(self) -> bool:
        return True

    @property
    def moved(self) -> bool:
        return self.weight == 100

    @property
    def reads_session(self) -> bool:
        return self.sticky is not None and self.sticky.kind == "session"


def bucket_of(key: bytes) -> int:
    digest = hashlib.blake2b(key, digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


class CanaryChooser:
    def __init__(self, session: SessionReader | None, rng: random.Random | None = None) -> None:
        self.session = session
        self._random = rng or random.Random()

    def sticky_key(self, sticky: Sticky, scope: Scope) -> bytes | None:
        facts = RequestFacts(scope, self.session)
        if sticky.kind == "header":
            found = facts.headers(sticky.name.encode("latin-1"))
            return found[0] if found and found[0] else None
        if sticky.kind == "cookie":
            cookie = facts.cookies().get(sticky.name)
            return cookie.encode("utf-8") if cookie else None
        session = facts.session()
        if not session or sticky.name not in session:
            return None
        return str(session[sticky.name]).encode("utf-8")

    def choose(self, options: CanaryOptions, scope: Scope) -> SideName:
        threshold = round((options.weight or 0) * BUCKETS / 100)
        key = self.sticky_key(options.sticky, scope) if options.sticky is not None else None
        point = bucket_of(key) if key is not None else self._random.randrange(BUCKETS)
        return NEW if point < threshold else LEGACY


class Canary:
    """`target: canary`: a share of clients on the new side, always the same ones."""

    name: ClassVar[str] = "canary"
    options: ClassVar[type[EntryOptions]] = CanaryOptions

    def __init__(self, context: Context) -> None:
        self.context = context
        self.chooser = CanaryChooser(context.session)

    def __call__(self, exchange: Exchange, receive: Receive, send: Send) -> Awaitable[object]:
        assert exchange.entry is not None
        options = exchange.entry.options
        assert isinstance(options, CanaryOptions)  # the registry sends canary entries here
        side = self.chooser.choose(options, exchange.scope)
        return serve_side(self.context, exchange, side, receive, send)

    @staticmethod
    def summary(entry: RouteEntry) -> str:
        options = entry.options
        assert isinstance(options, CanaryOptions)
        return f"canary {options.weight or 0:g}%"

    @staticmethod
    def describe(entry: RouteEntry, state: EntryState | None) -> dict[str, Any]:
        options = entry.options
        assert isinstance(options, CanaryOptions)
        described = {
            "weight": options.weight,
            "sticky": str(options.sticky) if options.sticky else None,
            "fallback": options.fallback,
            "guard": describe_guard(state),
        }
        return with_shadow(described, entry, state)


def published_weight(entry: RouteEntry) -> float | None:
    """The weight gateway_canary_weight shows for a canary entry (None: not a canary)."""
    options = entry.options
    return float(options.weight or 0) if isinstance(options, CanaryOptions) else None
