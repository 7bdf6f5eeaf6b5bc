"""`guard:`: when a route served by the new side goes back to legacy by itself.

The policy itself (windows, judging, the rollback) is gateway.behaviours.guard.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class GuardOptions(BaseModel):
    """When a route served by the new side goes back to legacy by itself."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    window: float = Field(60.0, gt=0, le=3600, description="seconds of history judged")
    min_requests: int = Field(20, ge=1, description="fewer new-side requests never decide")
    max_error_ratio: float = Field(0.05, ge=0, le=1, description="new side 5xx share allowed")
    max_latency_ratio: float | None = Field(
        3.0, gt=1, description="new p99 allowed as a multiple of legacy p99 on the same route"
    )
    cooldown: float | None = Field(
        None, gt=0, description="seconds after which a rolled-back route is tried again"
    )
