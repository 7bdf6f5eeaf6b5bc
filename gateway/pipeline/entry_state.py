"""What one routes-file entry keeps between requests, made of the parts its policies bring.

Each chooser or policy that keeps state (a guard's windows, a shadow route's budget and noise)
supplies its own part for the entries that use it (gateway.behaviours.registry); this class only
holds them, by type, so nothing here knows what a part is. A part that can send the entry's
requests elsewhere than its chooser (a guard's rollback) says so through `Redirects`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, cast, runtime_checkable

from gateway.routing.table import RouteEntry

T = TypeVar("T")


@runtime_checkable
class Redirects(Protocol):
    def redirected_to(self) -> str | None:
        """The target the entry's requests go to now instead of its own (None: its own)."""


@dataclass(slots=True)
class EntryState:
    entry: RouteEntry
    parts: dict[type[Any], object] = field(default_factory=dict)
    published_target: str | None = None
    _redirects: tuple[Redirects, ...] = ()

    @classmethod
    def of(cls, entry: RouteEntry, parts: list[object]) -> EntryState:
        redirects = tuple(part for part in parts if isinstance(part, Redirects))
        return cls(entry, {type(part): part for part in parts}, _redirects=redirects)

    def get(self, kind: type[T]) -> T | None:
        """The part of type `kind`, if this entry has one."""
        return cast("T | None", self.parts.get(kind))

    def target(self) -> str:
        """Where the entry sends requests now (legacy while rolled back). A read, per request."""
        for part in self._redirects:
            redirected = part.redirected_to()
            if redirected is not None:
                return redirected
        return self.entry.target
