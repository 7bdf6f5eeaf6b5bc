"""The registry of routing behaviours: the one place a new one is added.

A routes-file entry's `target` names the behaviour that serves it.
"""

from __future__ import annotations

from gateway.behaviours.base import Behaviour, Context
from gateway.behaviours.canary import Canary
from gateway.behaviours.direct import Legacy, New
from gateway.behaviours.shadow import Shadow

BEHAVIOURS: dict[str, type[Behaviour]] = {
    behaviour.name: behaviour for behaviour in (Legacy, New, Canary, Shadow)
}


def build_behaviours(context: Context) -> dict[str, Behaviour]:
    """One instance of every behaviour, by target name, for one gateway."""
    return {name: behaviour(context) for name, behaviour in BEHAVIOURS.items()}


__all__ = ["BEHAVIOURS", "Behaviour", "Context", "build_behaviours"]
