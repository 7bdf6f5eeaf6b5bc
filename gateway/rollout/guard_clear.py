"""Clearing a guard's rollback: an edit of the entry that every worker and replica sees.

A guard judges each worker's own traffic and keeps its rollback in memory, until the entry
changes in the routes file. Clearing writes the time into the entry's guard (`guard.cleared`):
the entry is then a new one for every gateway that reloads the file, and each starts its guard
from a clean window. The same function serves `gateway rollout clear` and the admin API's
`POST /_gateway/api/rollout/clear`.
"""

from __future__ import annotations

import datetime

from ruamel.yaml.comments import CommentedMap

from gateway.config.routes_file import parse_routes
from gateway.rollout.actions import ActionError
from gateway.rollout.routes_edit import RoutesDocument
from gateway.rollout.store import RoutesStore, StoreConflict
from gateway.routing.table import RouteEntry


def guarded_entry(text: str, source: str, route: str, method: str | None) -> RouteEntry:
    """The entry for `route` (a template as written) that has a guard; `method` if several."""
    table = parse_routes(text.encode("utf-8"), source)
    wanted = method.upper() if method else None
    found = [
        entry
        for entry in table.entries
        if entry.path == route
        and entry.options.guard is not None
        and (wanted is None or entry.methods is None or wanted in entry.methods)
    ]
    if not found:
        raise ActionError(f"no entry for {route} with a guard in {source}")
    if len(found) > 1:
        raise ActionError(f"several guarded entries for {route}: name one with --method")
    return found[0]


def clear(
    store: RoutesStore,
    route: str,
    method: str | None = None,
    now: datetime.datetime | None = None,
) -> str:
    """Write `guard.cleared` on the entry; the time written, as written."""
    stamp = (now or datetime.datetime.now(datetime.UTC)).isoformat(timespec="seconds")
    for _ in range(5):
        snapshot = store.read()
        entry = guarded_entry(snapshot.text, store.source, route, method)
        document = RoutesDocument(snapshot.text)
        written = document.entry(entry.path, entry.methods)
        guard = written.get("guard")
        if isinstance(guard, CommentedMap):
            guard["cleared"] = stamp  # in place: the block's layout and comments stay
        else:
            # `guard: true`, or a guard from `defaults:`: a block with only the time still
            # takes the defaults' other settings (gateway.config.entry_defaults).
            block = CommentedMap(cleared=stamp)
            block.fa.set_flow_style()
            written["guard"] = block
        text = document.text()
        parse_routes(text.encode("utf-8"), store.source)  # raises rather than write a bad table
        try:
            store.write(text, snapshot)
        except StoreConflict:
            continue
        return stamp
    raise ActionError(f"{store.source} kept changing; try again")
