"""The inventory as text: a terminal table, a Markdown table (to paste in a tracker), JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal

InventoryFormat = Literal["table", "json", "markdown"]


def render(inventory: dict[str, Any], form: InventoryFormat) -> str:
    return RENDERERS[form](inventory)


def _json(inventory: dict[str, Any]) -> str:
    return json.dumps(inventory, indent=2)


def _listed(values: list[str] | None) -> str:
    return ",".join(values) if values else "-"


def _session(row: dict[str, Any]) -> str:
    session = row["session"]
    if session is None:
        return "?"
    keys = sorted({*session["reads"], *session["writes"]})
    return ",".join(keys) if keys else "-"


def _share(row: dict[str, Any]) -> str:
    traffic = row["traffic"]
    return f"{100 * traffic['share']:.1f}%" if traffic else "-"


def _p99(row: dict[str, Any]) -> str:
    traffic = row["traffic"]
    p99 = traffic["p99_seconds"] if traffic else None
    return f"{1000 * p99:.0f}ms" if p99 is not None else "-"


# The hooks a terminal table has room for: those around the request (JSON and Markdown list
# teardown functions and error handlers too).
_REQUEST_HOOKS = ("url_value_preprocessor", "before_request", "after_request")


def _hooks(row: dict[str, Any], kinds: tuple[str, ...] | None = None) -> str:
    names = [
        hook["function"].rpartition(":")[2]
        for hook in row["hooks"]
        if kinds is None or hook["kind"] in kinds
    ]
    return ",".join(names) if names else "-"


def _aborts(row: dict[str, Any]) -> str:
    return ",".join(str(code) for code in row["aborts"]) if row["aborts"] else "-"


def _extensions(row: dict[str, Any]) -> str:
    used = row["extensions"] or {}
    return "; ".join(f"{name}: {', '.join(names)}" for name, names in used.items()) or "-"


def _view(row: dict[str, Any]) -> str:
    view = row["view"]
    if view is None:
        return "-"
    where = f" ({view['file']}:{view['line']})" if view["file"] else ""
    return str(view["function"]) + where


def _ordered(inventory: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = inventory["endpoints"]
    return sorted(rows, key=lambda row: (row["order"] is None, row["order"] or 0, row["path"]))


def _summary(inventory: dict[str, Any]) -> str:
    summary = inventory["summary"]
    text = (
        f"{summary['served_by_new']} of {summary['endpoints']} legacy endpoints are served by "
        "the new side"
    )
    if summary["endpoint_share_new"] is not None:
        text += f" ({100 * summary['endpoint_share_new']:.0f}%)"
    if summary["traffic_share_new"] is not None:
        text += f"; {100 * summary['traffic_share_new']:.1f}% of the traffic"
    return text + "."


def _table(inventory: dict[str, Any]) -> str:
    columns: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("#", lambda row: str(row["order"]) if row["order"] is not None else "done"),
        ("METHOD", lambda row: row["method"]),
        ("PATH", lambda row: row["path"]),
        ("TARGET", lambda row: row["target"]),
        ("G READS", lambda row: _listed(row["g_reads"]) if row["g_reads"] is not None else "?"),
        ("G WRITES", lambda row: _listed(row["g_writes"]) if row["g_writes"] is not None else "?"),
        ("SESSION", _session),
        ("HOOKS", lambda row: _hooks(row, _REQUEST_HOOKS)),
        ("ABORTS", _aborts),
        ("SHARE", _share),
        ("P99", _p99),
    ]
    cells = [[header for header, _ in columns]]
    cells += [[cell(row) for _, cell in columns] for row in _ordered(inventory)]
    widths = [max(len(line[index]) for line in cells) for index in range(len(columns))]
    lines = [
        "  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip()
        for line in cells
    ]
    lines += ["", _summary(inventory), *_notes(inventory)]
    return "\n".join(lines)


def _notes(inventory: dict[str, Any]) -> list[str]:
    notes = list(inventory["notes"])
    if inventory["parity_source"] is not None:
        notes.append(
            f"parity: from the ledger at {inventory['parity_source']}, per route-table entry "
            "(null where the ledger has no comparisons for it)"
        )
    return [f"note: {note}" for note in notes]


def _markdown(inventory: dict[str, Any]) -> str:
    lines = [
        "| # | endpoint | target | view | hooks | g reads | g writes | session | request "
        "| extensions | aborts | share | p99 | why this order |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in _ordered(inventory):
        done = row["order"] is None
        cells = [
            "done" if done else str(row["order"]),
            f"`{row['method']} {row['path']}`",
            row["target"],
            _view(row),
            _hooks(row),
            _listed(row["g_reads"]),
            _listed(row["g_writes"]),
            _session(row),
            _listed(row["request"]),
            _extensions(row),
            _aborts(row),
            _share(row),
            _p99(row),
            row["reason"] or "",
        ]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    lines += ["", _summary(inventory), "", *_notes(inventory)]
    return "\n".join(lines)


RENDERERS: dict[InventoryFormat, Callable[[dict[str, Any]], str]] = {
    "table": _table,
    "json": _json,
    "markdown": _markdown,
}
