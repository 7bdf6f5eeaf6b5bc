"""The applications the gateway serves, each behind one protocol (`Side`), and their names."""

from gateway.side_names import LEGACY, NEW, SIDE_NAMES, SideName, is_new, is_side, other
from gateway.sides.side import Side

__all__ = ["LEGACY", "NEW", "SIDE_NAMES", "Side", "SideName", "is_new", "is_side", "other"]
