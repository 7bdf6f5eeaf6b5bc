"""One request's facts, passed between the steps that serve it: never kept on `self`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.types import Scope

if TYPE_CHECKING:
    from gateway.pipeline.entry_state import EntryState
    from gateway.routing.table import RouteEntry


@dataclass(slots=True)
class Exchange:
    scope: Scope  # as the server gave it
    child_scope: Scope  # as the sides get it: canonical path, request id header
    method: str
    path: str
    request_id: bytes
    started: float
    entry: RouteEntry | None = None
    state: EntryState | None = None
    fallback_from: str | None = None  # the side whose failure legacy answers for
    decision: str | None = None  # what decided the side, when a behaviour says (match: a rule)


@dataclass(slots=True)
class Outcome:
    """What one side's call sent to the client."""

    status: int = 0  # sent to the client; 0 while nothing was
    complete: bool = False  # the last body message was sent
    failed: bool = False  # the side failed after its answer had started: the client saw it cut
    own: bool = False  # the gateway answered itself (Refused, timeout): the side never did

    @property
    def guard_status(self) -> int:
        """The status the guard judges: an answer cut short is a server error whatever began it."""
        return 500 if self.failed else self.status


class Failed(Exception):
    """The new side failed before answering, in a way legacy may answer instead."""

    def __init__(self, reason: str, status: int) -> None:
        super().__init__(f"{reason} ({status})")
        self.reason = reason  # "status", "exception" or "timeout"
        self.status = status
