"""The routes file's `defaults:` section: option blocks that every entry of a kind inherits.

    defaults:
      shadow: {timeout: 2, ignore: ["$.updated_at"]}   # each shadow policy (and `target: shadow`)
      guard: {window: 120, min_requests: 50}            # each guard an entry turns on
      canary: {sticky: "header:X-Token"}                # each `target: canary` entry's options

An entry's own option replaces the default of the same name, one level deep: an entry's
`shadow: {ignore: [...]}` replaces the default's `ignore` and keeps its other shadow keys. Nor
does a `shadow:` default turn the shadow policy on: it fills in the shadow options of every
`target: shadow` entry and of every entry that has a `shadow:` policy. A `guard:` default
never turns a guard on; it fills in the guard of every entry that has one
(`guard: true` is then the defaults). Defaults are applied to the plain values read from the
file before the entry is validated, so an inherited option is checked exactly like one written
in the entry, and the file itself is never rewritten with them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from gateway.behaviours.registry import entry_options
from gateway.options.guard import GuardOptions
from gateway.options.shadow import ShadowOptions
from gateway.routing.table import RouteEntry

# Where pydantic reports it: (location within `defaults`, the error as pydantic gives it).
DefaultsProblem = tuple[tuple[Any, ...], Mapping[str, Any]]


class Defaults(BaseModel):
    """The blocks `defaults:` may hold; any other key is refused as unknown."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    shadow: dict[str, Any] = {}
    guard: dict[str, Any] = {}
    canary: dict[str, Any] = {}

    @field_validator("shadow", "guard", "canary", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        # YAML reads a key whose lines are all commented out as null: an emptied block.
        return {} if value is None else value


def defaults_problems(defaults: Defaults) -> Iterator[DefaultsProblem]:
    """What is wrong with each block on its own, located within `defaults`."""
    yield from _errors("shadow", lambda: ShadowOptions.model_validate(defaults.shadow))
    yield from _errors("guard", lambda: GuardOptions.model_validate(defaults.guard))
    canary = defaults.canary
    if "target" in canary:
        # The target is what selects the block; naming it again can only be a slip.
        yield ("canary", "target"), {"type": "extra_forbidden", "msg": "unknown key"}
        return
    # The weight is usually each entry's own (the rollout controller moves it), so the block is
    # checked with a stand-in weight when it sets none.
    yield from _errors("canary", lambda: entry_options({"weight": 0, **canary, "target": "canary"}))


def _errors(block: str, validate: Any) -> Iterator[DefaultsProblem]:
    try:
        validate()
    except ValidationError as exc:
        for error in exc.errors():
            loc = tuple(error["loc"])
            if loc and loc[0] == "canary":  # pydantic puts the union's tag first
                loc = loc[1:]
            yield (block, *loc), error


def apply_defaults(given: dict[str, Any], defaults: Defaults) -> dict[str, Any]:
    """An entry's options (all but path and methods) with the defaults it inherits."""
    target = given.get("target")
    options = dict(given)
    if target == "canary" and defaults.canary:
        options = _merge(_guard_as_block(defaults.canary), _guard_as_block(options))
    own = options.get("shadow")
    # Anything but a mapping, true or nothing is left for validation to refuse.
    policy = own is True or isinstance(own, dict) or (own is None and target == "shadow")
    if defaults.shadow and policy:
        options["shadow"] = {**defaults.shadow, **(own if isinstance(own, dict) else {})}
    guard = options.get("guard")
    if defaults.guard and (guard is True or isinstance(guard, dict)):
        options["guard"] = {**defaults.guard, **(guard if isinstance(guard, dict) else {})}
    return options


def _guard_as_block(options: dict[str, Any]) -> dict[str, Any]:
    # `guard: true` means a guard with default settings: as a block, it keeps the defaults'.
    return {**options, "guard": {}} if options.get("guard") is True else options


def _merge(default: Mapping[str, Any], own: Mapping[str, Any]) -> dict[str, Any]:
    """`own` over `default`, blocks (mappings) merged key by key, everything else replaced."""
    merged = dict(default)
    for key, value in own.items():
        inherited = merged.get(key)
        if isinstance(value, dict) and isinstance(inherited, dict):
            merged[key] = {**inherited, **value}
        else:
            merged[key] = value
    return merged


def effective_options(entry: RouteEntry) -> str:
    """The options an entry ended up with (its own and inherited), as one line of JSON.

    Only options set in the file or its defaults are shown; the rest are the model's defaults.
    Secrets are not: header values a shadow copy sets are shown as the file writes them, an
    environment reference, or hidden when written out literally.
    """
    dumped = entry.options.model_dump(mode="json", exclude_unset=True, exclude={"target"})
    return json.dumps(dumped, separators=(", ", ": "))
