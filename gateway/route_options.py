"""What a routes-file entry may say besides its path, methods and target.

These models validate the routes file (pydantic) and are kept, frozen and hashable, on each
compiled RouteEntry: per-route state that must survive a reload (a guard's rollback, a shadow
route's learned noise) is kept for as long as its entry's options stay the same.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Side = Literal["legacy", "new"]
SIDES: tuple[Side, ...] = ("legacy", "new")
Target = Literal["legacy", "new", "canary", "shadow"]
TARGETS: tuple[Target, ...] = ("legacy", "new", "canary", "shadow")
StickyKind = Literal["header", "cookie", "session"]

# Hop-by-hop headers and headers that differ on every answer by design: never compared.
ALWAYS_IGNORED_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "date",
        "server",
        "content-length",  # bodies are compared as JSON where they are JSON, so lengths may differ
        "x-request-id",
        "x-gateway-side",
    }
)

_FROZEN = ConfigDict(extra="forbid", frozen=True)


class Sticky(BaseModel):
    """Where the key that keeps a client on one side of a canary comes from."""

    model_config = _FROZEN
    kind: StickyKind
    name: str = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        if isinstance(value, str):
            kind, sep, name = value.partition(":")
            if not sep or kind not in ("header", "cookie", "session"):
                raise ValueError(
                    f"{value!r} must be 'header:<name>', 'cookie:<name>' or 'session:<key>'"
                )
            return {"kind": kind, "name": name.lower() if kind == "header" else name}
        return value

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


class GuardOptions(BaseModel):
    """When a route served by the new side goes back to legacy by itself."""

    model_config = _FROZEN
    window: float = Field(60.0, gt=0, le=3600, description="seconds of history judged")
    min_requests: int = Field(20, ge=1, description="fewer new-side requests never decide")
    max_error_ratio: float = Field(0.05, ge=0, le=1, description="new side 5xx share allowed")
    max_latency_ratio: float | None = Field(
        3.0, gt=1, description="new p99 allowed as a multiple of legacy p99 on the same route"
    )
    cooldown: float | None = Field(
        None, gt=0, description="seconds after which a rolled-back route is tried again"
    )


class ShadowOptions(BaseModel):
    """How a shadow route copies requests to the other side and compares the answers."""

    model_config = _FROZEN
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

    @field_validator("headers", "ignore_headers")
    @classmethod
    def _lower(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if value is None else tuple(name.lower() for name in value)

    @field_validator("ignore")
    @classmethod
    def _json_paths(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from gateway.behaviours.compare import parse_json_path

        for path in value:
            parse_json_path(path)  # raises ValueError with the reason
        return value


class RouteOptions(BaseModel):
    """Everything an entry says about how it is served, past its path and methods."""

    model_config = _FROZEN
    target: Target
    weight: float | None = Field(None, ge=0, le=100)
    sticky: Sticky | None = None
    primary: Side = "legacy"
    fallback: Literal["legacy"] | None = None
    guard: GuardOptions | None = None
    shadow: ShadowOptions | None = None
    shadow_unsafe: bool = False
    timeout: float | None = Field(
        None,
        gt=0,
        le=3600,
        description="seconds the new side may take to start its answer (default: "
        "GATEWAY_NEW_TIMEOUT); per attempt, so a fallback to legacy has legacy's own timeout",
    )

    @field_validator("guard", mode="before")
    @classmethod
    def _guard_true(cls, value: Any) -> Any:
        return {} if value is True else (None if value is False else value)

    @model_validator(mode="after")
    def _fits_target(self) -> RouteOptions:
        allowed = {
            "legacy": set(),
            "new": {"fallback", "guard", "timeout"},
            "canary": {"weight", "sticky", "fallback", "guard", "timeout"},
            "shadow": {"primary", "shadow", "shadow_unsafe", "timeout"},
        }[self.target]
        given = self.model_fields_set - {"target", "path", "methods"}
        misplaced = sorted(given - allowed)
        if misplaced:
            raise ValueError(f"{', '.join(misplaced)} cannot be used with target {self.target!r}")
        if self.target == "canary" and self.weight is None:
            raise ValueError("target 'canary' needs a weight (0 to 100)")
        return self

    @property
    def serves_new(self) -> bool:
        """Whether the new side answers some of this route's clients (so it must exist there)."""
        return self.target in ("new", "canary") or (
            self.target == "shadow" and self.primary == "new"
        )

    @property
    def reaches_new(self) -> bool:
        """Whether the new side gets this route's requests at all, served or shadowed."""
        return self.target != "legacy"
