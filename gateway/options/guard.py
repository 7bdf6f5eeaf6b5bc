"""`guard:`: when a route served by the new side goes back to legacy by itself.

The policy itself (windows, judging, the rollback) is gateway.behaviours.guard. The defaults
are chosen so that light or noisy traffic never rolls a route back, while a real regression
(half the answers failing, or latency several times worse on enough answers) does within one
window: errors need a count as well as a share, latency needs enough answers on both sides and
an increase in milliseconds as well as a ratio.
"""

from __future__ import annotations

import datetime

from pydantic import BaseModel, ConfigDict, Field


class GuardOptions(BaseModel):
    """When a route served by the new side goes back to legacy by itself."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    window: float = Field(60.0, gt=0, le=3600, description="seconds of history judged")
    min_requests: int = Field(
        20, ge=1, description="new-side answers in the window before errors are judged"
    )
    min_errors: int = Field(
        5, ge=1, description="new-side 5xx answers in the window before errors are judged"
    )
    max_error_ratio: float = Field(0.05, ge=0, le=1, description="new side 5xx share allowed")
    max_latency_ratio: float | None = Field(
        3.0,
        gt=1,
        description="new-side latency quantile allowed as a multiple of legacy's on the same "
        "route (none: latency is not judged)",
    )
    min_latency_increase_ms: float = Field(
        20.0,
        ge=0,
        description="and allowed above legacy's by this many milliseconds: both must be "
        "exceeded (a 6 ms against 4 ms p99 is not a regression)",
    )
    latency_quantile: float = Field(
        0.99,
        gt=0.5,
        lt=1,
        description="the quantile compared; with fewer answers than it needs, a lower one "
        "(the one that leaves 10 answers above it)",
    )
    min_latency_samples: int = Field(
        100, ge=20, description="answers on each side in the window before latency is judged"
    )
    cooldown: float | None = Field(
        None, gt=0, description="seconds after which a rolled-back route is tried again"
    )
    cleared: datetime.datetime | None = Field(
        None,
        description="when a person last cleared a rollback (`gateway rollout clear`, the "
        "dashboard): a new value makes the entry new, so every worker's guard starts afresh",
    )
