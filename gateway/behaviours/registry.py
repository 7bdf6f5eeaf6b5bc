"""The registry of routing behaviours: the one place a new one is added.

A routes-file entry's `target` names the behaviour that serves it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter

from gateway.behaviours.base import Behaviour, Context
from gateway.behaviours.canary import Canary
from gateway.behaviours.direct import Legacy, New
from gateway.behaviours.match import Match
from gateway.behaviours.options import EntryOptions
from gateway.behaviours.shadow import Shadow

_ALL: tuple[type[Behaviour], ...] = (Legacy, New, Canary, Shadow, Match)
BEHAVIOURS: dict[str, type[Behaviour]] = {behaviour.name: behaviour for behaviour in _ALL}
TARGETS = tuple(BEHAVIOURS)

# An entry's options are validated by the model of the target it names (pydantic's tagged
# union on `target`), so each behaviour declares its options in its own module.
_OPTIONS: TypeAdapter[EntryOptions] = TypeAdapter(
    Annotated[  # type: ignore[arg-type]  # a union built at run time, of EntryOptions
        Union[tuple(behaviour.options for behaviour in BEHAVIOURS.values())],  # noqa: UP007
        Field(discriminator="target"),
    ]
)


def entry_options(data: Mapping[str, Any]) -> EntryOptions:
    """An entry's options (all but its path and methods); raises pydantic's ValidationError."""
    return _OPTIONS.validate_python(data)


def build_behaviours(context: Context) -> dict[str, Behaviour]:
    """One instance of every behaviour, by target name, for one gateway."""
    return {name: behaviour(context) for name, behaviour in BEHAVIOURS.items()}


__all__ = ["BEHAVIOURS", "TARGETS", "Behaviour", "Context", "build_behaviours", "entry_options"]
