"""The shadow mismatch log: one line per difference worth reading, not one per request.

Two implementations of one API often differ in a header on every answer (a CORS header one
side sets, a `Vary` the other forgets). Logged per request, that one fact floods the log and
hides the rare body difference. So a mismatch whose differences are all headers is grouped by
route and the names of the headers that differ: the first is logged in full
(`"event": "shadow_mismatch"`, `"grouped": true`), the repeats are counted and written as one
`"event": "shadow_mismatch_summary"` line per group and interval, with the count and the last
repeat's differences. Any difference in the status, the body or an exception is logged on its
own line every time. Counts left at shutdown are written by `flush`.

Groups live for the process; at most MAX_GROUPS are kept (the oldest is forgotten first), so a
stream of ever new header sets cannot grow memory.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.observe.event_log import log_event

MAX_GROUPS = 256
GroupKey = tuple[str, tuple[str, ...]]


@dataclass(slots=True)
class _Group:
    interval: float
    count: int = 0  # repeats since the last line written
    last: dict[str, Any] = field(default_factory=dict)
    timer: asyncio.TimerHandle | None = None


class MismatchLog:
    def __init__(self, max_groups: int = MAX_GROUPS) -> None:
        self.max_groups = max_groups
        self._groups: OrderedDict[GroupKey, _Group] = OrderedDict()

    def report(
        self, event: str, record: dict[str, Any], fields: Sequence[str], every: float
    ) -> None:
        """Log `record` (its `route` and differences), or count it in its group.

        `fields` are the differing fields; `every` is the route's summary interval in seconds
        (0: never group). Must be called on the event loop, whose timer writes the summaries.
        """
        if every <= 0 or not fields or not all(name.startswith("header:") for name in fields):
            log_event(event, record)
            return
        key: GroupKey = (str(record["route"]), tuple(sorted(fields)))
        group = self._groups.get(key)
        if group is None:
            self._remember(key, _Group(every))
            log_event(event, {**record, "grouped": True, "summary_every": every})
            return
        self._groups.move_to_end(key)
        group.count += 1
        group.last = record
        if group.timer is None:
            group.timer = asyncio.get_running_loop().call_later(
                group.interval, self._summarise, key
            )

    def flush(self) -> None:
        """Write every pending count now (at shutdown: nothing counted is lost)."""
        for key, group in list(self._groups.items()):
            if group.timer is not None:
                group.timer.cancel()
                self._summarise(key)

    def _remember(self, key: GroupKey, group: _Group) -> None:
        self._groups[key] = group
        while len(self._groups) > self.max_groups:
            oldest_key, oldest = self._groups.popitem(last=False)
            if oldest.timer is not None:  # its count is written now, not lost with it
                oldest.timer.cancel()
                self._write(oldest_key, oldest)

    def _summarise(self, key: GroupKey) -> None:
        group = self._groups.get(key)
        if group is not None:
            self._write(key, group)

    def _write(self, key: GroupKey, group: _Group) -> None:
        group.timer = None
        if group.count:
            route, fields = key
            last = group.last
            log_event(
                "shadow_mismatch_summary",
                {
                    "route": route,
                    "fields": list(fields),
                    "count": group.count,
                    "interval": group.interval,
                    "last_request_id": last.get("request_id"),
                    "last_differences": last.get("differences", []),
                },
            )
            group.count = 0
