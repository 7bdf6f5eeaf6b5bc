"""What the rollout controller tells people (gateway.observe.notify): each step, a wait for
approval, a pause or resume, an abort, the promotion, and the guard rollbacks it sees.

Built from what the controller already has: the verdict it wrote (with its gate and figures),
an entry status a person changed since its last pass, and the fleet's rollback counters.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from gateway.observe.notify import Figures, Notice
from gateway.options.rollout import RolloutStatus
from gateway.rollout.decide import EntryView, Verdict
from gateway.rollout.figures import SideTotals

# A decision written by the controller, by the event its notice has (None: not told).
_WRITTEN = {"start": "rollout_started", "advance": "rollout_step", "finish": "promoted"}
# A person's action on an entry (admin API or `gateway rollout ...`), by its event.
_ACTED = {"pause": "paused", "resume": "resumed", "abort": "aborted", "approve": "approved"}


def written_notice(view: EntryView, verdict: Verdict) -> Notice | None:
    """The notice for a verdict the controller wrote; None for one nobody needs told."""
    status = verdict.status
    assert status is not None
    if verdict.gate == "approval":
        return _awaiting_approval(view, verdict, status)
    if verdict.decision == "abort":
        event = "aborted"
    elif verdict.decision in _WRITTEN:
        event = _WRITTEN[verdict.decision]
    else:
        return None  # a hand edit followed, or a shadow entry that starts waiting
    weight = verdict.values.get("weight", view.weight)
    summary = {
        "rollout_started": f"Rollout of {view.describe()} started at {weight:g}%",
        "rollout_step": f"Rollout of {view.describe()} stepped to {weight:g}%",
        "promoted": f"Rollout of {view.describe()} finished: served by the new side",
        "aborted": f"Rollout of {view.describe()} aborted: back on legacy",
    }[event]
    extra = {"state": status.state, "step": status.step, "weight": weight}
    return _notice(event, view, summary, verdict.reason, verdict.gate, verdict, extra)


def _awaiting_approval(view: EntryView, verdict: Verdict, status: RolloutStatus) -> Notice:
    steps = view.rollout.steps
    next_weight = steps[status.step] if status.step < len(steps) else None
    method = sorted(view.methods)[0] if view.methods and len(view.methods) == 1 else None
    command = ["gateway", "rollout", "approve", view.path]
    body: dict[str, Any] = {"route": view.path}
    if method is not None:
        command += ["--method", method]
        body["method"] = method
    extra = {
        "state": status.state,
        "step": status.step,
        "weight": view.weight,
        "next_weight": next_weight,
        "approve_command": shlex.join(command),
        "approve_api": "POST /_gateway/api/rollout/approve "
        f"(Authorization: Bearer <GATEWAY_ADMIN_TOKEN>) {json.dumps(body)}",
    }
    shown = f" to {next_weight:g}%" if next_weight is not None else ""
    summary = f"Rollout of {view.describe()} waits for approval to step{shown}"
    return _notice("awaiting_approval", view, summary, verdict.reason, "approval", verdict, extra)


def acted_notice(view: EntryView, status: RolloutStatus) -> Notice | None:
    """The notice for a person's action found in an entry's status; None if it is none."""
    event = _ACTED.get(status.decision)
    if event is None:
        return None
    summary = f"Rollout of {view.describe()} {event} by {status.by}"
    extra = {"state": status.state, "step": status.step, "weight": view.weight, "by": status.by}
    figures = _figures(status.figures.model_dump(exclude_none=True) if status.figures else {})
    return Notice(
        event,
        view.path,
        summary,
        status.reason,
        status.gate or "operator",
        _methods(view),
        figures,
        extra,
    )


def guard_notice(
    route: str, trips: dict[str, float], new: SideTotals, legacy: SideTotals, seconds: float
) -> Notice:
    """Guard rollbacks of `route` the fleet counted since the last pass, by reason."""
    count = sum(trips.values())
    reasons = ", ".join(
        f"{reason} x{value:g}" if reason else f"x{value:g}" for reason, value in trips.items()
    )
    reason = f"the guard rolled back {route} to legacy in {count:g} gateway process(es)"
    if reasons:
        reason += f" ({reasons})"
    figures: Figures = {
        "trips": count,
        "seconds": round(seconds, 1),
        "new_requests": new.requests,
        "new_error_ratio": new.error_ratio,
        "new_p99": new.p99(),
        "legacy_requests": legacy.requests,
        "legacy_error_ratio": legacy.error_ratio,
        "legacy_p99": legacy.p99(),
    }
    summary = f"Guard rolled back {route} to legacy"
    extra = {"reasons": {name: value for name, value in trips.items() if name}}
    return Notice("guard_rollback", route, summary, reason, "guard", None, figures, extra)


def _notice(
    event: str,
    view: EntryView,
    summary: str,
    reason: str,
    gate: str | None,
    verdict: Verdict,
    extra: dict[str, Any],
) -> Notice:
    figures = verdict.figures.model_dump(exclude_none=True) if verdict.figures else {}
    return Notice(event, view.path, summary, reason, gate, _methods(view), _figures(figures), extra)


def _methods(view: EntryView) -> tuple[str, ...] | None:
    return tuple(sorted(view.methods)) if view.methods else None


def _figures(values: dict[str, Any]) -> Figures:
    return {name: value for name, value in values.items() if isinstance(value, int | float)}
