"""Where the controller reads and writes the route table.

On one host it is the routes file itself; in Kubernetes it is the ConfigMap the pods mount.
Both are written the same way: read a snapshot, edit its text, write it back only if nobody
changed it meanwhile, so a person's hand edit is never overwritten by a stale decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class StoreConflict(Exception):
    """The table changed between the controller's read and its write; read again and decide."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    text: str
    # Opaque to the controller: a content hash for a file, a resourceVersion for a ConfigMap.
    version: str


class RoutesStore(Protocol):
    @property
    def source(self) -> str:
        """Where the table lives, for messages (a path, or namespace/name/key)."""
        ...

    def read(self) -> Snapshot: ...

    def write(self, text: str, expected: Snapshot) -> Snapshot:
        """Replace the table atomically if it is still `expected`; raise StoreConflict if not.

        Readers never see a half-written table."""
        ...
