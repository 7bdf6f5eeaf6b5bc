"""The names of the two sides: the one place that spells them.

Everything else asks here (`is_new`, `other`) rather than comparing strings, so a side's name
is data that flows through, and a third kind of side changes this module, not its readers.
"""

from __future__ import annotations

from typing import Literal, TypeGuard

SideName = Literal["legacy", "new"]
LEGACY: SideName = "legacy"
NEW: SideName = "new"
SIDE_NAMES: tuple[SideName, ...] = (LEGACY, NEW)


def is_side(name: str) -> TypeGuard[SideName]:
    return name in SIDE_NAMES


def is_new(name: str) -> bool:
    """Whether `name` is the side being migrated to (the side a guard, a fallback judge)."""
    return name == NEW


def other(side: SideName) -> SideName:
    """The side that did not answer: where a shadow copy goes."""
    return LEGACY if side == NEW else NEW
