"""What every routes-file entry may say besides its path and methods, whatever its target.

Each behaviour's module extends `EntryOptions` with its own options and a `target` literal;
the registry joins them in one discriminated union, so an entry is validated by the model of
the target it names. The options here modify any target that can send requests to the new
side, and each target says which of them it accepts. The models are frozen and hashable: per-
route state (a guard's rollback, a shadow route's learned noise) is kept for as long as its
entry's options stay the same.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gateway.behaviours.guard import GuardOptions
from gateway.rollout.spec import RolloutOptions, RolloutStatus

FROZEN = ConfigDict(extra="forbid", frozen=True)
MODIFIERS = ("fallback", "guard", "timeout")


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
    # Progressive delivery (gateway.rollout): the steps, and where the rollout stands. The
    # status is written by the controller and is not part of the entry's identity (see
    # gateway.control.route_state).
    rollout: RolloutOptions | None = None
    status: RolloutStatus | None = None
    # Which of MODIFIERS this target accepts.
    modifiers: ClassVar[frozenset[str]] = frozenset()
    # Whether `rollout:` fits this target: a canary steps, a shadow waits for parity, and
    # legacy is where an aborted rollout rests until a person resumes it.
    rolls_out: ClassVar[bool] = False

    @field_validator("guard", mode="before")
    @classmethod
    def _guard_true(cls, value: Any) -> Any:
        return {} if value is True else (None if value is False else value)

    @model_validator(mode="after")
    def _modifiers_fit(self) -> EntryOptions:
        misplaced = sorted((self.model_fields_set & set(MODIFIERS)) - self.modifiers)
        if misplaced:
            raise ValueError(f"{', '.join(misplaced)} cannot be used with target {self.target!r}")
        if self.rollout is not None and not self.rolls_out:
            raise ValueError(f"rollout cannot be used with target {self.target!r}")
        return self

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
        return self.serves_new

    @property
    def reads_session(self) -> bool:
        """Whether deciding needs the legacy app's signed session (a Flask secret key)."""
        return False
