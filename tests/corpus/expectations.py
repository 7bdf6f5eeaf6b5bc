"""What the inventory should say about an endpoint, written by reading the app's source.

Each expectation names one fact (an extension's name used, a session key read or written, a
hook, a request attribute, a status) on one endpoint of `gateway inventory --format json`. What
an endpoint drags along includes its hooks (a `before_request` that reads `current_user`
protects every view behind it), so a fact counts where the endpoint's own record or one of its
hooks' records has it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pytest

Record = dict[str, Any]
# The inventory by (method, path template), or why `gateway inventory` could not make one.
Inventory = dict[tuple[str, str], Record] | str


@dataclass(frozen=True, slots=True)
class Expect:
    method: str
    path: str
    fact: str  # what is expected, for the test's id and failure message
    holds: Callable[[Record], bool]
    source: str  # where in the app's source the fact comes from

    def check(self, inventory: Inventory) -> None:
        assert not isinstance(inventory, str), f"gateway inventory failed:\n{inventory}"
        record = inventory.get((self.method, self.path))
        assert record is not None, f"the inventory has no {self.method} {self.path}"
        assert self.holds(record), (
            f"{self.method} {self.path}: expected {self.fact} ({self.source}); the inventory "
            f"says {_summary(record)}"
        )


def cases(expectations: Iterable[Expect], misses: dict[str, str]) -> list[Any]:
    """pytest params, one per expectation; those today's inventory misses are strict xfails,
    keyed by id, so a fix flips them (an XPASS fails until its mark is removed)."""
    params = []
    for expectation in expectations:
        name = f"{expectation.method} {expectation.path}: {expectation.fact}"
        reason = misses.get(name)
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        params.append(pytest.param(expectation, id=name, marks=marks))
    unknown = set(misses) - {param.id for param in params}
    assert not unknown, f"misses that name no expectation: {sorted(unknown)}"
    return params


def _records(record: Record) -> list[Record]:
    return [record, *record.get("hooks", [])]


def uses(extension: str, name: str) -> Callable[[Record], bool]:
    """The endpoint (or a hook) uses `name` from `extension` (the JSON's `extensions`)."""

    def holds(record: Record) -> bool:
        return any(
            name in (part.get("extensions") or {}).get(extension, []) for part in _records(record)
        )

    return holds


def session_reads(key: str) -> Callable[[Record], bool]:
    return lambda record: any(key in _session(part, "reads") for part in _records(record))


def session_writes(key: str) -> Callable[[Record], bool]:
    return lambda record: any(key in _session(part, "writes") for part in _records(record))


def hook(kind: str, function: str) -> Callable[[Record], bool]:
    """A hook of `kind` whose function's name ends with `function` runs for the endpoint."""
    return lambda record: any(
        part["kind"] == kind and str(part["function"]).endswith(function)
        for part in record.get("hooks", [])
    )


def hook_writes_g(name: str) -> Callable[[Record], bool]:
    """A hook of the endpoint sets `g.<name>` (for the views and templates after it)."""
    return lambda record: any(name in (part.get("g_writes") or []) for part in record["hooks"])


def reads_request(attribute: str) -> Callable[[Record], bool]:
    return lambda record: any(attribute in (part.get("request") or []) for part in _records(record))


def aborts(status: int) -> Callable[[Record], bool]:
    return lambda record: any(status in (part.get("aborts") or []) for part in _records(record))


def nothing_unresolved(record: Record) -> bool:
    return not record.get("unresolved")


def analysed(record: Record) -> bool:
    return record.get("coupling") is not None


def _session(part: Record, which: str) -> list[str]:
    session = part.get("session") or {}
    return list(session.get(which) or [])


def _summary(record: Record) -> str:
    keys = ("extensions", "session", "request", "aborts", "g_reads", "unresolved", "coupling")
    shown = {key: record.get(key) for key in keys if key in record}
    hooks = [f"{h['kind']} {h['function']}" for h in record.get("hooks", [])]
    return f"{shown}, hooks {hooks}"


def uses_extension(extension: str) -> Callable[[Record], bool]:
    """Some name of `extension` is listed for the endpoint or one of its hooks."""
    return lambda record: any(
        (part.get("extensions") or {}).get(extension) for part in _records(record)
    )
