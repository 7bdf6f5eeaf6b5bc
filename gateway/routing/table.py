"""The compiled route table: which side serves a (method, canonical path).

Entries are indexed in a tree of path segments, so finding the entry for a request costs a
walk of the path's few segments whatever the number of entries (a linear scan of 5,000
templates, as a list of Starlette routes does, would cost thousands of regex matches).

Where several entries fit a path, the most specific wins, compared segment by segment from the
left: a literal beats `{x:int}`, which beats `{x:uuid}`, then `{x}`, then `{x:path}`. Entries
that fit exactly the same paths (the same shape, whatever the parameter names) for a shared
method are ambiguous and refused, as are exact duplicates.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gateway.options.entry import EntryOptions
from gateway.options.rollout import RolloutStatus
from gateway.routing.methods import HTTP_METHODS
from gateway.routing.templates import PRIORITY, PathTemplate, Segment, SegmentKind, split_path
from gateway.side_names import LEGACY, SideName


@dataclass(frozen=True, slots=True)
class RouteEntry:
    template: PathTemplate
    methods: frozenset[str] | None  # None: every method
    options: EntryOptions
    index: int  # position in the routes file, for messages
    line: int | None = None  # line in the routes file, when known
    # Where the entry's rollout stands (`status:`): beside its options, not among them, and not
    # part of its key: it changes on the rollout controller's clock, and writing it must keep
    # the entry's per-route state (a guard's rollback, a shadow route's noise).
    status: RolloutStatus | None = None

    @property
    def path(self) -> str:
        return self.template.text

    @property
    def target(self) -> str:
        return self.options.target

    @property
    def key(self) -> tuple[str, frozenset[str] | None, EntryOptions]:
        """What identifies this entry across reloads, wherever it stands in the file."""
        return (self.path, self.methods, self.options)

    def describe(self) -> str:
        where = f"routes[{self.index}]"
        if self.line is not None:
            where += f" (line {self.line})"
        return f"{where} {self.path!r}"


class TableError(ValueError):
    """A set of entries that cannot form a table; `problems` lists each, one line apiece."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class _Methods:
    """The entries that end at one node of the tree, by method."""

    __slots__ = ("by_method", "every")

    def __init__(self) -> None:
        self.by_method: dict[str, RouteEntry] = {}
        self.every: RouteEntry | None = None

    def add(self, entry: RouteEntry) -> RouteEntry | None:
        """Add `entry`; return the entry it clashes with instead, if any."""
        if entry.methods is None:
            clash = self.every or next(iter(self.by_method.values()), None)
            if clash is None:
                self.every = entry
            return clash
        for method in entry.methods:
            clash = self.by_method.get(method) or self.every
            if clash is not None:
                return clash
        for method in entry.methods:
            self.by_method[method] = entry
        return None

    def get(self, method: str) -> RouteEntry | None:
        entry = self.by_method.get(method)
        if entry is None and method == "HEAD":
            # Flask and Starlette both answer HEAD wherever they answer GET.
            entry = self.by_method.get("GET")
        return entry or self.every


# Whether a path segment fits a parameter of each kind (the literal kind is a dict lookup).
_FITS = {kind: Segment(kind, "").matches for kind in PRIORITY if kind not in ("static", "path")}


class _Node:
    __slots__ = ("static", "params", "rest", "end")

    def __init__(self) -> None:
        self.static: dict[str, _Node] = {}
        self.params: dict[SegmentKind, _Node] = {}  # kept in PRIORITY order
        self.rest: _Methods | None = None  # entries whose last segment is {x:path}
        self.end: _Methods | None = None  # entries that end exactly here

    def child(self, segment: Segment) -> _Node:
        if segment.kind == "static":
            return self.static.setdefault(segment.value, _Node())
        if segment.kind not in self.params:
            self.params[segment.kind] = _Node()
            self.params = {k: self.params[k] for k in PRIORITY if k in self.params}
        return self.params[segment.kind]

    def match(self, parts: list[str], i: int, method: str) -> RouteEntry | None:
        if i == len(parts):
            return self.end.get(method) if self.end is not None else None
        part = parts[i]
        child = self.static.get(part)
        if child is not None:
            found = child.match(parts, i + 1, method)
            if found is not None:
                return found
        for kind, child in self.params.items():
            if _FITS[kind](part):
                found = child.match(parts, i + 1, method)
                if found is not None:
                    return found
        return self.rest.get(method) if self.rest is not None else None


class RouteTable:
    def __init__(self, entries: Iterable[RouteEntry], default: SideName = LEGACY) -> None:
        self.entries: tuple[RouteEntry, ...] = tuple(entries)
        self.default: SideName = default
        self._root = _Node()
        problems = [problem for entry in self.entries if (problem := self._insert(entry))]
        if problems:
            raise TableError(problems)

    def _insert(self, entry: RouteEntry) -> str | None:
        node = self._root
        for segment in entry.template.segments:
            if segment.kind == "path":
                node.rest = node.rest or _Methods()
                return _clash(entry, node.rest.add(entry))
            node = node.child(segment)
        node.end = node.end or _Methods()
        return _clash(entry, node.end.add(entry))

    def match(self, path: str, method: str) -> RouteEntry | None:
        """The entry for a canonical path (see gateway.routing.paths), or None for the default."""
        return self._root.match(split_path(path), 0, method)

    def target_for(self, path: str, method: str) -> str:
        """The configured target (not the side a canary picks, nor a rollback's effect)."""
        entry = self.match(path, method)
        return entry.target if entry is not None else self.default

    def __len__(self) -> int:
        return len(self.entries)


def _clash(entry: RouteEntry, other: RouteEntry | None) -> str | None:
    if other is None:
        return None
    same = entry.path == other.path and entry.methods == other.methods
    kind = "duplicates" if same else "overlaps"
    shared = _shared_methods(entry, other)
    return f"{entry.describe()} {kind} {other.describe()}: both match {shared} on the same paths"


def _shared_methods(a: RouteEntry, b: RouteEntry) -> str:
    if a.methods is None and b.methods is None:
        return "every method"
    methods = (a.methods or HTTP_METHODS) & (b.methods or HTTP_METHODS)
    return ", ".join(sorted(methods))
