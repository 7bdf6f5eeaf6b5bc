"""The registry of choosers and of the per-route state policies keep: the one place a new one
is added.

A routes-file entry's `target` names the chooser that serves it; its policies are options any
entry may carry (gateway.options.entry), applied around the side by gateway.behaviours.chain.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter

from gateway.behaviours.base import Behaviour, Context
from gateway.behaviours.canary import Canary
from gateway.behaviours.direct import Legacy, New
from gateway.behaviours.guard import guard_of
from gateway.behaviours.match import Match
from gateway.behaviours.shadow import shadow_route
from gateway.behaviours.shadow_target import Shadow
from gateway.options.entry import EntryOptions
from gateway.routing.table import RouteEntry

_ALL: tuple[type[Behaviour], ...] = (Legacy, New, Canary, Shadow, Match)
BEHAVIOURS: dict[str, type[Behaviour]] = {behaviour.name: behaviour for behaviour in _ALL}
TARGETS = tuple(BEHAVIOURS)
# What an entry keeps between requests: each chooser or policy that keeps state names here how
# it builds its part for an entry (None: that entry does not use it).
STATE_PARTS: tuple[Callable[[RouteEntry], object | None], ...] = (guard_of, shadow_route)

# An entry's options are validated by the model of the target it names (pydantic's tagged
# union on `target`), so each chooser declares its options in its own module.
_OPTIONS: TypeAdapter[EntryOptions] = TypeAdapter(
    Annotated[  # type: ignore[arg-type]  # a union built at run time, of EntryOptions
        Union[tuple(behaviour.options for behaviour in BEHAVIOURS.values())],  # noqa: UP007
        Field(discriminator="target"),
    ]
)


def entry_options(data: Mapping[str, Any]) -> EntryOptions:
    """An entry's options (all but its path and methods); raises pydantic's ValidationError."""
    return _OPTIONS.validate_python(data)


def state_parts(entry: RouteEntry) -> list[object]:
    """The parts of the state an entry keeps between requests, one per stateful policy."""
    return [part for build in STATE_PARTS if (part := build(entry)) is not None]


def build_behaviours(context: Context) -> dict[str, Behaviour]:
    """One instance of every chooser, by target name, for one gateway."""
    return {name: behaviour(context) for name, behaviour in BEHAVIOURS.items()}


__all__ = [
    "BEHAVIOURS",
    "TARGETS",
    "Behaviour",
    "Context",
    "build_behaviours",
    "entry_options",
    "state_parts",
]
