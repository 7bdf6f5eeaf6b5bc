"""What `gateway routes` says about guards and their rollbacks: each guarded entry's rule and
how to clear a rollback from the file; with `--live URL`, the rollbacks a running gateway is
serving now, with their reason and figures (read from its admin API)."""

from __future__ import annotations

import datetime
import json
import urllib.error
import urllib.request
from typing import Any

from gateway.options.guard import GuardOptions
from gateway.routing.table import RouteEntry, RouteTable


def _methods(methods: Any) -> str:
    return ",".join(sorted(methods)) if methods else "*"


def clear_command(path: str, methods: Any, rollout: bool) -> str:
    option = f" --method {sorted(methods)[0]}" if methods else ""
    if rollout:
        return f"gateway rollout resume {path}{option} (after the controller's abort)"
    return f"gateway rollout clear {path}{option}"


def guard_rule(options: GuardOptions) -> str:
    rule = (
        f"over {options.window:g} s: errors with {options.min_requests}+ new-side answers, "
        f"{options.min_errors}+ 5xx and over {options.max_error_ratio:.1%}"
    )
    if options.max_latency_ratio is not None:
        rule += (
            f"; latency with {options.min_latency_samples}+ answers a side, "
            f"p{options.latency_quantile * 100:g} (lower on fewer) over "
            f"{options.max_latency_ratio:g}x legacy's and {options.min_latency_increase_ms:g} "
            "ms above it"
        )
    return rule


def guard_lines(table: RouteTable) -> list[str]:
    """One line per guarded entry: its rule, when it was last cleared, how to clear it."""
    return [_guard_line(entry) for entry in table.entries if entry.options.guard is not None]


def _guard_line(entry: RouteEntry) -> str:
    options = entry.options.guard
    assert options is not None
    cleared = f"; last cleared {options.cleared.isoformat()}" if options.cleared else ""
    until = f"{options.cooldown:g} s" if options.cooldown else "cleared"
    command = clear_command(entry.path, entry.methods, entry.options.rollout is not None)
    return (
        f"{_methods(entry.methods)} {entry.path}: {guard_rule(options)}{cleared}. "
        f"A rollback lasts until {until}: {command}"
    )


def live_lines(url: str, token: str | None, timeout: float = 5.0) -> list[str]:
    """The rollbacks a running gateway serves now (the answering worker's), one or two lines
    each; a line saying why when it cannot be read."""
    api = url.rstrip("/") + "/_gateway/api/routes"
    request = urllib.request.Request(api, headers={"Accept": "application/json"})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer: Any = json.loads(response.read(16 << 20))
    except urllib.error.HTTPError as exc:
        exc.close()
        return [
            f"could not read {api}: HTTP {exc.code} (set GATEWAY_ADMIN_TOKEN or GATEWAY_READ_TOKEN)"
        ]
    except (OSError, ValueError) as exc:
        return [f"could not read {api}: {exc}"]
    lines = []
    for entry in answer.get("routes", []):
        rollback = (entry.get("guard") or {}).get("rollback")
        if not rollback:
            continue
        at = datetime.datetime.fromtimestamp(rollback["at"]).strftime("%H:%M:%S")
        lines.append(
            f"{_methods(entry.get('methods'))} {entry['path']}: rolled back to legacy at {at} "
            f"(worker {answer.get('worker')}): {rollback['detail']}"
        )
        lines.append(f"    figures: {json.dumps(rollback.get('figures'))}; {rollback['clear']}")
    return lines or [f"no rollback now (worker {answer.get('worker')} of {url})"]


def guard_report(table: RouteTable, live: str | None, token: str | None) -> list[str]:
    """The guards' section of `gateway routes`; empty when no entry has a guard."""
    lines = guard_lines(table)
    if not lines:
        return []
    report = ["\nGuards (rollbacks are per worker; clearing edits the entry for all):"]
    report += [f"  {line}" for line in lines]
    if live is not None:
        report.append(f"\nRollbacks now, at {live}:")
        report += [f"  {line}" for line in live_lines(live, token)]
    return report
