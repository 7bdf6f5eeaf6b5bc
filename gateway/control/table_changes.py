"""What a reload changed: entries added, removed and changed, in lines for the log.

An entry is known by its path and methods (two entries cannot share both). Options are shown
as the routes file's own dump of them (`effective_options`), which never writes a secret out.
"""

from __future__ import annotations

import json
from typing import Any

from gateway.config.entry_defaults import effective_options
from gateway.routing.table import RouteEntry, RouteTable

SHOWN_VALUE_CHARS = 80


def _name(entry: RouteEntry) -> str:
    methods = ",".join(sorted(entry.methods)) if entry.methods else "*"
    return f"{methods} {entry.path}"


def _described(entry: RouteEntry) -> dict[str, Any]:
    options: dict[str, Any] = json.loads(effective_options(entry))
    described = {"target": entry.target, **options}
    if entry.status is not None:
        described["status"] = entry.status.model_dump(mode="json", exclude_none=True)
    return described


def _shown(value: Any) -> str:
    text = "unset" if value is None else json.dumps(value)
    return text if len(text) <= SHOWN_VALUE_CHARS else text[: SHOWN_VALUE_CHARS - 3] + "..."


def table_changes(old: RouteTable, new: RouteTable) -> list[str]:
    """One line per difference, in the new file's order (removed entries last)."""
    before = {_name(entry): _described(entry) for entry in old.entries}
    after = {_name(entry): _described(entry) for entry in new.entries}
    lines = [] if old.default == new.default else [f"default: {old.default} -> {new.default}"]
    for name, options in after.items():
        if name not in before:
            lines.append(f"added {name} -> {options.pop('target')} {_options(options)}".rstrip())
            continue
        was = before[name]
        for key in [key for key in {**was, **options} if was.get(key) != options.get(key)]:
            lines.append(
                f"changed {name}: {key} {_shown(was.get(key))} -> {_shown(options.get(key))}"
            )
    lines += [f"removed {name}" for name in before if name not in after]
    return lines


def _options(options: dict[str, Any]) -> str:
    return _shown(options) if options else ""
