"""What an entry says about its rollout (`rollout:`) and where it stands (`status:`).

Both are plain, frozen models with no import from the rest of the gateway. `rollout:` is one of
an entry's options (gateway.options.entry); `status:` is kept beside the entry's options, not
in them (gateway.routing.table.RouteEntry.status): it changes on the controller's clock, and
writing it must neither change the entry's identity nor reach the per-request options. It is
written by the controller and by the operator actions; a person may edit or delete it too: the
file is the single source of truth.
"""

from __future__ import annotations

import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

FROZEN = ConfigDict(extra="forbid", frozen=True)

# shadow: waiting for the parity gate before the first step; stepping: at a canary step;
# awaiting_approval: the next step's gates passed and it waits for a person; aborted: back on
# legacy, never restarted by the controller; done: the entry serves `new`.
RolloutState = Literal["shadow", "stepping", "awaiting_approval", "aborted", "done"]
Decision = Literal[
    "start", "advance", "hold", "abort", "finish", "approve", "pause", "resume", "edit"
]


class RolloutOptions(BaseModel):
    """`rollout:` on an entry: the canary weights in order and the gates between them."""

    model_config = FROZEN
    steps: tuple[float, ...] = Field(min_length=1, description="canary weights, in order")
    interval: float = Field(300.0, gt=0, description="seconds at least at each step")
    min_requests: int = Field(
        100, ge=1, description="new-side requests at a step before it may advance or abort"
    )
    max_error_ratio: float | None = Field(
        None, ge=0, le=1, description="new-side 5xx share allowed (absolute)"
    )
    max_error_ratio_vs_legacy: float | None = Field(
        None, gt=0, description="new-side 5xx share allowed as a multiple of legacy's"
    )
    min_errors: int = Field(
        5, ge=1, description="new-side 5xx answers at a step before an error gate can fail"
    )
    max_latency_ratio: float | None = Field(
        None,
        gt=0,
        description="new p99 allowed as a multiple of legacy p99 on the same route (with "
        "fewer than 1,000 answers a side, the quantile that leaves 10 above it: p90 at 100)",
    )
    min_latency_increase_ms: float = Field(
        20.0,
        ge=0,
        description="and allowed above legacy's by this many milliseconds: the latency gate "
        "fails only when both are exceeded",
    )
    min_match_ratio: float | None = Field(
        None, ge=0, le=1, description="parity ledger: share of compared answers that matched"
    )
    min_compared: int = Field(100, ge=1, description="comparisons the parity gate needs")
    approve: tuple[float, ...] = Field((), description="steps entered only once approved")
    keep_shadow: bool = Field(
        False,
        description="a shadow entry promoted to canary keeps comparing: its shadow options "
        "become the canary's shadow policy (each answer compared with the other side's)",
    )

    @model_validator(mode="after")
    def _steps_rise(self) -> RolloutOptions:
        steps = self.steps
        if any(not 0 < weight <= 100 for weight in steps):
            raise ValueError("steps must be weights above 0 and at most 100")
        if any(later <= earlier for earlier, later in zip(steps, steps[1:], strict=False)):
            raise ValueError(f"steps must rise: {list(steps)}")
        unknown = sorted(set(self.approve) - set(steps))
        if unknown:
            raise ValueError(f"approve names weights that are not steps: {unknown}")
        return self


class Figures(BaseModel):
    """What a decision was judged on, since the step began (omitted: not known)."""

    model_config = FROZEN
    new_requests: float | None = None
    new_errors: float | None = None
    error_ratio: float | None = None
    legacy_requests: float | None = None
    legacy_error_ratio: float | None = None
    new_p99: float | None = None
    legacy_p99: float | None = None
    latency_ratio: float | None = None
    latency_quantile: float | None = None  # the quantile new_p99 and legacy_p99 hold
    compared: float | None = None
    match_ratio: float | None = None
    guard_trips: float | None = None
    elapsed: float | None = None


class RolloutStatus(BaseModel):
    """`status:` on an entry: where its rollout stands and the last decision, with its reason."""

    model_config = FROZEN
    state: RolloutState
    step: int = Field(0, ge=0, description="1 for the first step; 0 while in shadow")
    weight: float | None = Field(
        None,
        ge=0,
        le=100,
        description="the weight written with this status; another is a hand edit",
    )
    since: datetime.datetime = Field(description="when the current step (or state) began")
    decision: Decision
    reason: str
    at: datetime.datetime | None = Field(None, description="when the last decision was made")
    by: str = "controller"
    paused: bool = False
    approved: tuple[float, ...] = ()
    gate: str | None = Field(None, description="what holds or aborted the rollout")
    figures: Figures | None = None
    # An abort sends the entry to legacy, which takes none of a canary's options: they are kept
    # here, so that `resume` puts the entry back as it was.
    restore: dict[str, Any] | None = None

    def __hash__(self) -> int:
        # `restore` holds plain mappings, which do not hash; these fields tell statuses apart.
        return hash((self.state, self.step, self.since, self.decision, self.reason))

    @model_validator(mode="after")
    def _aware(self) -> RolloutStatus:
        # A naive time would be read in the reader's zone: a controller elsewhere would
        # misjudge how long the step has run.
        for value in (self.since, self.at):
            if value is not None and value.tzinfo is None:
                raise ValueError("times must name their zone (e.g. 2026-01-01T10:00:00Z)")
        return self
