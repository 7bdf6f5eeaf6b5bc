"""One route's rollout decision: advance, hold or abort, from the entry and its figures.

Pure: the entry as the file says, the figures since its step began, the parity ledger's figures
and the time in; a verdict out. A verdict that changes the entry carries the edit to write;
the controller writes only those.

Rules (README, "Progressive delivery"):
- a canary entry with `rollout:` and no status starts at the first step's weight; a shadow
  entry waits for the parity gate, then becomes a canary at the first step;
- a guard trip anywhere aborts; below `min_requests` new-side requests at the step nothing is
  judged (low traffic holds, and never aborts); a failing gate aborts; once every gate passes and
  `interval` has run, the next step is taken (after a person's approval if it is listed in
  `approve`), and after the last step the entry becomes `target: new`;
- a paused entry takes no step, but a failing gate or a guard trip still aborts it;
- an aborted entry rests on legacy; the controller never restarts it;
- the file is the truth: a weight edited by hand moves the rollout to that weight's place (a
  weight between two steps stays, judged as the lower one; the next advance is the upper one).
"""

from __future__ import annotations

import dataclasses
import datetime
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway.behaviours.canary import OWN_KEYS as CANARY_ONLY
from gateway.behaviours.guard import judged_quantile
from gateway.behaviours.shadow_target import OWN_KEYS as SHADOW_TARGET_ONLY
from gateway.options.entry import SHADOW_KEYS, SIDE_POLICIES
from gateway.options.rollout import Decision, Figures, RolloutOptions, RolloutState, RolloutStatus
from gateway.rollout.figures import SideTotals


@dataclass(frozen=True, slots=True)
class ParityFigures:
    compared: float
    match_ratio: float


class ParitySource(Protocol):
    """The parity ledger, as the gate reads it: per route (and methods), its comparisons."""

    def parity(self, route: str, methods: frozenset[str] | None) -> ParityFigures | None: ...


class NoParity:
    """No ledger: a parity gate never has evidence, so it holds."""

    def parity(self, route: str, methods: frozenset[str] | None) -> ParityFigures | None:
        return None


@dataclass(frozen=True, slots=True)
class EntryView:
    """What the decision reads of one entry of the routes file."""

    path: str
    methods: frozenset[str] | None
    target: str
    weight: float | None
    rollout: RolloutOptions
    status: RolloutStatus | None
    options: dict[str, Any] = field(default_factory=dict)  # as written, for `restore`

    def describe(self) -> str:
        methods = ",".join(sorted(self.methods)) if self.methods else "*"
        return f"{methods} {self.path}"


@dataclass(frozen=True, slots=True)
class StepFigures:
    new: SideTotals
    legacy: SideTotals
    guard_trips: float = 0.0
    # The source keeps no history and this controller had not seen the step begin: its figures
    # count from this pass, so they say nothing yet (neither low traffic nor health).
    from_now: bool = False
    # The weight each gateway serves the route at, as it reports it (empty: not known).
    serving: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class Verdict:
    decision: Decision
    reason: str
    gate: str | None
    figures: Figures | None
    status: RolloutStatus | None  # the status to write; None: the entry is not managed
    values: dict[str, Any] = field(default_factory=dict)  # keys to set on the entry
    drop: tuple[str, ...] = ()  # keys to remove from the entry
    fill: dict[str, Any] = field(default_factory=dict)  # keys to set where the entry has none

    def changes(self, old: RolloutStatus | None) -> bool:
        """Whether writing this verdict changes what the file says (not just the figures)."""
        if self.status is None:
            return False
        if self.values or self.drop or self.fill or old is None:
            return True
        keep = ("state", "step", "weight", "since", "decision", "gate", "paused", "approved")
        return any(getattr(self.status, name) != getattr(old, name) for name in keep)


def decide(
    view: EntryView,
    figures: StepFigures | None,
    parity: ParityFigures | None,
    now: datetime.datetime,
) -> Verdict | None:
    """The decision for one entry with `rollout:`; None when the controller leaves it alone."""
    status = view.status
    if view.target == "shadow":
        return _from_shadow(view, parity, now)
    if view.target != "canary":
        return None  # legacy (aborted, or put there by hand) or finished: a person's move
    step = _step_of(view)
    if (
        status is None
        or status.state not in ("stepping", "awaiting_approval")
        or (status.step != step or step == 0)
        # Another weight than the one the status was written for: a person's edit.
        or (status.weight is not None and status.weight != view.weight)
    ):
        return _adopt(view, step, now)
    verdict = _judge(view, step, figures, parity, now)
    if status.paused and verdict.decision != "abort":
        # A pause stops the steps, not the gates: the canary's share still reaches new.
        return _hold(view, "paused", f"paused by {status.by}", verdict.figures, now)
    return verdict


def _step_of(view: EntryView) -> int:
    """The last step the entry's weight has reached (1-based); 0 below the first step.

    A weight between two steps (set by hand) is at the lower one: judged there, its next
    advance goes to the step above."""
    weight = view.weight or 0
    return sum(1 for step in view.rollout.steps if step <= weight)


def _adopt(view: EntryView, step: int, now: datetime.datetime) -> Verdict:
    """No status, or one the file's weight contradicts: start, or follow the hand edit."""
    status = view.status
    # Not started yet: no status, one from a former rollout, or a first step that waits for
    # approval (and may have it now).
    fresh = status is None or status.state in ("aborted", "done", "shadow")
    if fresh or (status is not None and status.state == "awaiting_approval" and status.step == 0):
        if step == 0 and (view.weight or 0) < view.rollout.steps[0]:
            return _enter(view, 1, now, "start", "rollout started")
    if step == 0:
        # Below the first step: it is entered as at the start.
        return _enter(view, 1, now, "edit", f"weight {view.weight or 0:g} set by hand")
    reason = "rollout started" if status is None else f"weight {view.weight:g} set by hand"
    decision: Decision = "start" if status is None else "edit"
    return _status(view, "stepping", step, now, decision, reason, None, None, since=now)


def _enter(
    view: EntryView, step: int, now: datetime.datetime, decision: Decision, reason: str
) -> Verdict:
    """Move the canary to `step` (1-based), if it needs no approval or has it."""
    weight = view.rollout.steps[step - 1]
    status = view.status
    approved = status.approved if status is not None else ()
    if weight in view.rollout.approve and weight not in approved:
        state: RolloutState = "shadow" if view.target == "shadow" else "awaiting_approval"
        waiting = _step_of(view)
        if status is not None and status.state == state and status.gate == "approval":
            return _hold(view, "approval", f"step {weight:g}% waits for approval", None, now)
        return _status(
            view,
            state,
            waiting,
            now,
            "hold",
            f"step {weight:g}% waits for approval",
            "approval",
            None,
            # Waiting is still the same step: its figures keep counting from its start.
            since=status.since if status is not None and state != "shadow" else now,
        )
    verdict = _status(
        view,
        "stepping",
        step,
        now,
        decision,
        f"{reason}: weight {weight:g}%",
        None,
        None,
        since=now,
        weight=weight,
    )
    values: dict[str, Any] = {"weight": weight}
    drop: tuple[str, ...] = ()
    fill: dict[str, Any] = {}
    if view.target != "canary":
        values["target"] = "canary"
        drop = (*SHADOW_TARGET_ONLY, *SHADOW_KEYS)
        if view.rollout.keep_shadow:
            # The shadow options become the canary's shadow policy: each answer, from either
            # side, is still compared with the other side's. `shadow: {}` where the entry had
            # none keeps the policy on, with the defaults it had.
            drop, fill = SHADOW_TARGET_ONLY, {"shadow": {}}
    return Verdict(verdict.decision, verdict.reason, None, None, verdict.status, values, drop, fill)


def _judge(
    view: EntryView,
    step: int,
    figures: StepFigures | None,
    parity: ParityFigures | None,
    now: datetime.datetime,
) -> Verdict:
    rollout = view.rollout
    if figures is None:
        return _hold(view, "figures", "no figures from the metrics source", None, now)
    if figures.from_now:
        reason = (
            "the step's figures count from now: the metrics source keeps no history and this "
            "controller did not see the step begin"
        )
        return _hold(view, "figures", reason, None, now)
    new, legacy = figures.new, figures.legacy
    assert view.status is not None
    elapsed = (now - view.status.since).total_seconds()
    judged = _figures(figures, parity, elapsed)
    if figures.guard_trips > 0:
        trips = f"{figures.guard_trips:g}"
        return abort_verdict(
            view, "guard", f"the guard rolled back in {trips} gateway process(es)", judged, now
        )
    if new.requests < rollout.min_requests:
        reason = f"low traffic: {new.requests:g} of {rollout.min_requests} new-side requests"
        return _hold(view, "min_requests", reason, judged, now)
    failed = _failed_gate(rollout, new, legacy)
    if failed is not None:
        return abort_verdict(view, failed[0], failed[1], judged, now)
    if rollout.min_match_ratio is not None:
        held = _parity_hold(rollout, parity)
        if held is not None:
            return _hold(view, "parity_evidence", held, judged, now)
        assert parity is not None
        if parity.match_ratio < rollout.min_match_ratio:
            reason = f"match ratio {parity.match_ratio:.4g} < {rollout.min_match_ratio:g}"
            return abort_verdict(view, "parity", reason, judged, now)
    lagging = [weight for weight in figures.serving if weight != view.weight]
    if lagging:
        # A gateway that has not reloaded yet (a ConfigMap reaches pods a minute or more after
        # it is written): advancing now would take it over this step, never judged.
        applied = len(figures.serving) - len(lagging)
        reason = (
            f"{applied} of {len(figures.serving)} gateways serve weight {view.weight or 0:g}% "
            "(waiting for the others)"
        )
        return _hold(view, "applied", reason, judged, now)
    if elapsed < rollout.interval:
        reason = f"at step {step} for {elapsed:.0f} of {rollout.interval:g} s"
        return _hold(view, "interval", reason, judged, now)
    if step >= len(rollout.steps):
        return _finish(view, judged, now)
    verdict = _enter(view, step + 1, now, "advance", "gates passed")
    return _with_figures(verdict, judged)


def _with_figures(verdict: Verdict, judged: Figures) -> Verdict:
    status = verdict.status.model_copy(update={"figures": judged}) if verdict.status else None
    return dataclasses.replace(verdict, figures=judged, status=status)


def _failed_gate(
    rollout: RolloutOptions, new: SideTotals, legacy: SideTotals
) -> tuple[str, str] | None:
    ratio = new.error_ratio or 0.0
    # A share needs a count: 2 errors in 100 answers is 2%, and says little.
    counted = new.errors >= rollout.min_errors
    if rollout.max_error_ratio is not None and counted and ratio > rollout.max_error_ratio:
        return (
            "error_ratio",
            f"new-side error ratio {ratio:.4g} > {rollout.max_error_ratio:g} "
            f"({new.errors:g} 5xx in {new.requests:g} answers)",
        )
    # Relative gates need legacy traffic at the same step (none at 100%: not judged then).
    enough_legacy = legacy.requests >= rollout.min_requests
    if rollout.max_error_ratio_vs_legacy is not None and enough_legacy and counted:
        # A legacy share of 0 counts as one error in its requests, so that one new-side error
        # at a modest volume is not an infinite ratio.
        floor = max(legacy.error_ratio or 0.0, 1 / legacy.requests)
        allowed = rollout.max_error_ratio_vs_legacy * floor
        if ratio > allowed:
            return (
                "error_ratio_vs_legacy",
                f"new-side error ratio {ratio:.4g} > {rollout.max_error_ratio_vs_legacy:g} x "
                f"legacy's {legacy.error_ratio or 0.0:.4g}",
            )
    if rollout.max_latency_ratio is not None and enough_legacy:
        return _latency_gate(rollout, rollout.max_latency_ratio, new, legacy)
    return None


def judged_latency(new: SideTotals, legacy: SideTotals) -> tuple[float, float | None, float | None]:
    """The quantile compared (the p99, or with fewer than 1,000 answers a side the one that
    leaves 10 answers above it, as the guard judges) and each side's value of it."""
    q = judged_quantile(0.99, min(new.requests, legacy.requests))
    return q, new.quantile(q), legacy.quantile(q)


def _latency_gate(
    rollout: RolloutOptions, max_ratio: float, new: SideTotals, legacy: SideTotals
) -> tuple[str, str] | None:
    q, new_value, legacy_value = judged_latency(new, legacy)
    if not new_value or not legacy_value:
        return None
    floor = rollout.min_latency_increase_ms / 1000
    if new_value / legacy_value > max_ratio and new_value - legacy_value > floor:
        name = f"p{q * 100:.3g}"
        return (
            "latency_ratio",
            f"new {name} {new_value * 1000:.1f} ms > {max_ratio:g} x legacy {name} "
            f"{legacy_value * 1000:.1f} ms and more than {rollout.min_latency_increase_ms:g} ms "
            f"above it ({new.requests:g} new, {legacy.requests:g} legacy answers)",
        )
    return None


def _parity_hold(rollout: RolloutOptions, parity: ParityFigures | None) -> str | None:
    if parity is None:
        return "no parity evidence yet (the gate needs shadow comparisons)"
    if parity.compared < rollout.min_compared:
        return f"parity: {parity.compared:g} of {rollout.min_compared} comparisons"
    return None


def _from_shadow(
    view: EntryView, parity: ParityFigures | None, now: datetime.datetime
) -> Verdict | None:
    status = view.status
    if status is not None and status.state in ("aborted", "done"):
        return None
    if status is not None and status.paused:
        return _hold(view, "paused", f"paused by {status.by}", None, now)
    rollout = view.rollout
    judged = _figures(None, parity, None)
    held, gate = _parity_hold(rollout, parity), "parity_evidence"
    if held is None:
        assert parity is not None and rollout.min_match_ratio is not None
        if parity.match_ratio >= rollout.min_match_ratio:
            verdict = _enter(view, 1, now, "start", "parity gate met")
            return _with_figures(verdict, judged)
        held = f"parity: match ratio {parity.match_ratio:.4g} < {rollout.min_match_ratio:g}"
        gate = "parity"
    if status is None or status.state != "shadow":
        return _status(view, "shadow", 0, now, "hold", held, gate, judged, since=now)
    return _hold(view, gate, held, judged, now)


def _finish(view: EntryView, judged: Figures | None, now: datetime.datetime) -> Verdict:
    verdict = _status(
        view,
        "done",
        len(view.rollout.steps),
        now,
        "finish",
        "every step passed: the route is served by new",
        None,
        judged,
        since=now,
    )
    return Verdict(
        "finish",
        verdict.reason,
        None,
        judged,
        verdict.status,
        {"target": "new"},
        (*CANARY_ONLY, "rollout"),
    )


def abort_verdict(
    view: EntryView, gate: str, reason: str, judged: Figures | None, now: datetime.datetime
) -> Verdict:
    restore = {
        key: value
        for key, value in view.options.items()
        if key in (*CANARY_ONLY, *SIDE_POLICIES, *SHADOW_TARGET_ONLY, *SHADOW_KEYS)
        or key == "target"
    }
    verdict = _status(
        view, "aborted", _step_of(view), now, "abort", reason, gate, judged, since=now
    )
    assert verdict.status is not None
    status = verdict.status.model_copy(update={"restore": restore})
    drop = tuple(key for key in restore if key != "target")
    # A rollout inherited from `defaults: canary` would not follow the entry to legacy: it is
    # written into the entry, so that the aborted rollout is still listed and can be resumed.
    fill = {"rollout": view.rollout.model_dump(mode="json", exclude_defaults=True)}
    return Verdict("abort", reason, gate, judged, status, {"target": "legacy"}, drop, fill)


def _hold(
    view: EntryView, gate: str, reason: str, judged: Figures | None, now: datetime.datetime
) -> Verdict:
    status = view.status
    assert status is not None
    updated = status.model_copy(
        update={"decision": "hold", "reason": reason, "gate": gate, "figures": judged, "at": now}
    )
    return Verdict("hold", reason, gate, judged, updated)


def _status(
    view: EntryView,
    state: RolloutState,
    step: int,
    now: datetime.datetime,
    decision: Decision,
    reason: str,
    gate: str | None,
    judged: Figures | None,
    *,
    since: datetime.datetime,
    weight: float | None = None,
) -> Verdict:
    """A new status; `weight` is the one written with it (default: the entry's, unchanged)."""
    old = view.status
    status = RolloutStatus(
        state=state,
        step=step,
        weight=weight if weight is not None else view.weight,
        since=since,
        decision=decision,
        reason=reason,
        at=now,
        paused=old.paused if old is not None and state not in ("aborted", "done") else False,
        approved=old.approved if old is not None else (),
        gate=gate,
        figures=judged,
    )
    return Verdict(decision, reason, gate, judged, status)


def _figures(
    figures: StepFigures | None, parity: ParityFigures | None, elapsed: float | None
) -> Figures:
    values: dict[str, float | None] = {"elapsed": elapsed}
    if figures is not None:
        new, legacy = figures.new, figures.legacy
        q, new_p99, legacy_p99 = judged_latency(new, legacy)
        values.update(
            new_requests=new.requests,
            new_errors=new.errors,
            error_ratio=new.error_ratio,
            legacy_requests=legacy.requests,
            legacy_error_ratio=legacy.error_ratio,
            new_p99=new_p99,
            legacy_p99=legacy_p99,
            latency_ratio=new_p99 / legacy_p99 if new_p99 and legacy_p99 else None,
            latency_quantile=q,
            guard_trips=figures.guard_trips,
        )
    if parity is not None:
        values.update(compared=parity.compared, match_ratio=parity.match_ratio)
    return Figures(**values)
