"""How an entry's rollout reads in the admin API, the dashboard and `gateway routes`."""

from __future__ import annotations

from typing import Any

from gateway.routing.table import RouteEntry, RouteTable


def describe_rollout(entry: RouteEntry) -> dict[str, Any] | None:
    """The rollout's steps, where it stands, its next step and what holds it; None without one."""
    rollout, status = entry.options.rollout, entry.status
    if rollout is None and status is None:
        return None
    described: dict[str, Any] = {
        "steps": list(rollout.steps) if rollout else None,
        "interval": rollout.interval if rollout else None,
        "min_requests": rollout.min_requests if rollout else None,
        "approve": list(rollout.approve) if rollout else [],
        "status": status.model_dump(mode="json", exclude_none=True) if status else None,
        "next_step": None,
        "next_needs_approval": False,
    }
    if rollout is not None and status is not None and status.state in ("stepping", "shadow"):
        nxt = rollout.steps[status.step] if status.step < len(rollout.steps) else None
        described["next_step"] = nxt if nxt is not None else "new"
        described["next_needs_approval"] = (
            nxt in rollout.approve and nxt not in status.approved if nxt is not None else False
        )
    elif rollout is not None and status is not None and status.state == "awaiting_approval":
        nxt = rollout.steps[status.step] if status.step < len(rollout.steps) else None
        described["next_step"], described["next_needs_approval"] = nxt, True
    return described


def rollout_lines(table: RouteTable) -> list[str]:
    """One line per entry with a rollout or a status, for `gateway routes`."""
    lines = []
    for entry in table.entries:
        described = describe_rollout(entry)
        if described is None:
            continue
        methods = ",".join(sorted(entry.methods)) if entry.methods else "*"
        status = described["status"]
        if status is None:
            where = "not started"
        else:
            paused = ", paused" if status.get("paused") else ""
            where = (
                f"{status['state']}{paused}, step {status['step']}, since {status['since']}: "
                f"{status['decision']}: {status['reason']}"
            )
        lines.append(f"{methods} {entry.path} ({entry.target}): {where}")
        if status is not None and status.get("figures"):
            lines.append(f"    judged on: {_figures_text(status['figures'])}")
        if status is not None and status["state"] == "aborted":
            option = f" --method {sorted(entry.methods)[0]}" if entry.methods else ""
            lines.append(f"    to start again: gateway rollout resume {entry.path}{option}")
    return lines


def _figures_text(figures: dict[str, Any]) -> str:
    return ", ".join(f"{name} {value:.4g}" for name, value in figures.items() if value is not None)
