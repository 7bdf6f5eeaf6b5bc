"""`shadow:`: how a copy of a request is sent to the other side and the answers compared.

The policy itself (the budget, the copy, the comparison) is gateway.behaviours.shadow.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from gateway.compare import parse_json_path
from gateway.options.headers import RequestHeaderRules


class ShadowOptions(BaseModel):
    """How a shadow route copies requests to the other side and compares the answers."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    sample: float = Field(100.0, ge=0, le=100, description="percentage of requests copied")
    timeout: float = Field(5.0, gt=0, le=300, description="seconds the copy may take")
    concurrency: int = Field(8, ge=1, le=1000, description="copies in flight at most")
    max_body: int = Field(1 << 20, ge=0, description="larger bodies are not compared")
    headers: tuple[str, ...] | None = Field(
        None, description="response headers compared (default: all but the ignored ones)"
    )
    ignore_headers: tuple[str, ...] = ()
    ignore: tuple[str, ...] = Field((), description="JSON paths ignored, like $.updated_at")
    noise_sample: float = Field(
        0.0, ge=0, le=100, description="percentage of copies that also run the primary twice"
    )
    request_headers: RequestHeaderRules | None = Field(
        None, description="headers of the copy dropped or set (the other side's own logins)"
    )
    summary_every: float = Field(
        60.0,
        ge=0,
        le=86400,
        description="seconds between summary lines of a repeated header-only mismatch "
        "(0: log each one)",
    )

    @field_validator("headers", "ignore_headers")
    @classmethod
    def _lower(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if value is None else tuple(name.lower() for name in value)

    @field_validator("ignore")
    @classmethod
    def _json_paths(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for path in value:
            parse_json_path(path)  # raises ValueError with the reason
        return value
