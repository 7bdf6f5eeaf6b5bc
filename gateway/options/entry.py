"""What every routes-file entry may say besides its path and methods, whatever its chooser.

An entry has one chooser, its `target` (which side answers each request), and any of the
policies: `shadow:` (a copy to the side that did not answer, compared), `fallback:`, `guard:`
and `timeout:`. Each chooser (gateway.behaviours) extends `EntryOptions` with its own options
and a `target` literal; the registry joins them in one discriminated union, so an entry is
validated by the model of the chooser it names.

`fallback`, `guard` and `timeout` act on the new side's answers, so only choosers that can send
requests to the new side accept them; `shadow` fits every chooser. The models are frozen and
hashable: per-route state (a guard's rollback, a shadow route's learned noise) is kept for as
long as its entry's options stay the same.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gateway.options.guard import GuardOptions
from gateway.options.rollout import RolloutOptions
from gateway.options.shadow import ShadowOptions

FROZEN = ConfigDict(extra="forbid", frozen=True)
# The policies on the new side's answers: a chooser says which of them it accepts.
SIDE_POLICIES = ("fallback", "guard", "timeout")
# The shadow policy's keys: every chooser accepts them.
SHADOW_KEYS = ("shadow", "shadow_unsafe")


class EntryOptions(BaseModel):
    model_config = FROZEN

    target: str
    fallback: Literal["legacy"] | None = None
    guard: GuardOptions | None = None
    timeout: float | None = Field(
        None,
        gt=0,
        le=3600,
        description="seconds the new side may take to start its answer (default: "
        "GATEWAY_NEW_TIMEOUT); per attempt, so a fallback to legacy has legacy's own timeout",
    )
    shadow: ShadowOptions | None = None
    shadow_unsafe: bool = False
    # Progressive delivery (gateway.rollout): the steps. Where the rollout stands (`status:`)
    # is kept beside the options, on the entry (see gateway.options.rollout).
    rollout: RolloutOptions | None = None
    # Which of SIDE_POLICIES this chooser accepts.
    accepts: ClassVar[frozenset[str]] = frozenset()
    # Whether `rollout:` fits this chooser: a canary steps, a shadow waits for parity, and
    # legacy is where an aborted rollout rests until a person resumes it.
    rolls_out: ClassVar[bool] = False

    @field_validator("guard", "shadow", mode="before")
    @classmethod
    def _true_is_defaults(cls, value: Any) -> Any:
        return {} if value is True else (None if value is False else value)

    @model_validator(mode="after")
    def _policies_fit(self) -> EntryOptions:
        misplaced = sorted((self.model_fields_set & set(SIDE_POLICIES)) - self.accepts)
        if misplaced:
            raise ValueError(f"{', '.join(misplaced)} cannot be used with target {self.target!r}")
        if self.rollout is not None and not self.rolls_out:
            raise ValueError(f"rollout cannot be used with target {self.target!r}")
        if self.shadow_unsafe and self.shadow_policy is None:
            raise ValueError("shadow_unsafe needs a shadow policy (shadow:)")
        return self

    @property
    def shadow_policy(self) -> ShadowOptions | None:
        """How this entry's requests are copied to the other side and compared (None: not)."""
        return self.shadow

    @property
    def serves_new(self) -> bool:
        """Whether the new side answers some of this route's clients (so it must exist there)."""
        return False

    @property
    def moved(self) -> bool:
        """Whether the new side answers every request of the entry (the route has moved)."""
        return False

    @property
    def reaches_new(self) -> bool:
        """Whether the new side gets this route's requests at all, served or shadowed."""
        return self.serves_new or self.shadow_policy is not None

    @property
    def reads_session(self) -> bool:
        """Whether deciding needs the legacy app's signed session (a Flask secret key)."""
        return False
