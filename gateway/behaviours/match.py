"""`target: match`: each request goes to the side named by the first rule its facts satisfy.

```yaml
  - path: /api/tickets
    methods: [GET]
    target: match
    rules:                      # the first rule that holds decides
      - header: X-Beta          # one of: header, cookie, query, session (a Flask session key)
        equals: "1"             # one of: equals, in (a list), present (true/false)
        side: new
      - session: role
        in: [admin, agent]
        side: new
    otherwise: legacy
```

Values are compared as text (`equals: 1` means `"1"`), exactly (case included); header names
are not case-sensitive. A fact that repeats (a header sent twice, `?tag=a&tag=b`) holds when
any of its values does. A session key is read from the legacy app's signed session cookie, so
a forged or expired cookie is no fact: `present: false` holds, `equals` does not.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from starlette.types import Receive, Send

from gateway.behaviours.base import Context
from gateway.behaviours.chain import serve_side
from gateway.behaviours.facts import FACT_KINDS, FactKind, RequestFacts, fact_text
from gateway.behaviours.guard import describe_guard
from gateway.behaviours.shadow import with_shadow
from gateway.options.entry import SIDE_POLICIES, EntryOptions
from gateway.pipeline.entry_state import EntryState
from gateway.pipeline.exchange import Exchange
from gateway.routing.table import RouteEntry
from gateway.sides import LEGACY, NEW
from gateway.sides import SideName as Side

OTHERWISE = "otherwise"  # the `rule` label when no rule held
_OPERATORS = ("equals", "in", "present")


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    header: str | None = Field(None, min_length=1)
    cookie: str | None = Field(None, min_length=1)
    query: str | None = Field(None, min_length=1)
    session: str | None = Field(None, min_length=1)
    equals: str | None = None
    in_: tuple[str, ...] | None = Field(None, alias="in", min_length=1)
    present: bool | None = None
    side: Side

    @field_validator("equals", mode="before")
    @classmethod
    def _equals_as_text(cls, value: Any) -> Any:
        return fact_text(value) if isinstance(value, int | float | bool) else value

    @field_validator("in_", mode="before")
    @classmethod
    def _in_as_text(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return tuple(
                fact_text(item) if isinstance(item, int | float | bool) else item for item in value
            )
        return value

    @model_validator(mode="after")
    def _one_fact_one_operator(self) -> Rule:
        facts = [kind for kind in FACT_KINDS if getattr(self, kind) is not None]
        if len(facts) != 1:
            raise ValueError(
                f"a rule names exactly one fact, one of {', '.join(FACT_KINDS)} "
                f"(found {', '.join(facts) or 'none'})"
            )
        operators = [name for name in _OPERATORS if getattr(self, _field(name)) is not None]
        if len(operators) != 1:
            raise ValueError(
                f"a rule has exactly one operator, one of {', '.join(_OPERATORS)} "
                f"(found {', '.join(operators) or 'none'})"
            )
        return self

    @property
    def fact(self) -> tuple[FactKind, str]:
        for kind in FACT_KINDS:
            name = getattr(self, kind)
            if name is not None:
                return kind, name
        raise AssertionError("validated: a rule names one fact")  # pragma: no cover

    def holds(self, facts: RequestFacts) -> bool:
        values = facts.values(*self.fact)
        if self.present is not None:
            return bool(values) == self.present
        if self.equals is not None:
            return self.equals in values
        allowed = self.in_ or ()
        return any(value in allowed for value in values)

    def describe(self) -> str:
        kind, name = self.fact
        if self.present is not None:
            test = "present" if self.present else "absent"
        elif self.equals is not None:
            test = f"= {self.equals!r}"
        else:
            test = "in [" + ", ".join(repr(value) for value in self.in_ or ()) + "]"
        return f"{kind} {name} {test} -> {self.side}"


class MatchOptions(EntryOptions):
    target: Literal["match"]
    rules: tuple[Rule, ...] = Field(min_length=1)
    otherwise: Side = LEGACY
    accepts = frozenset(SIDE_POLICIES)

    @field_validator("rules", mode="before")
    @classmethod
    def _some_rules(cls, value: Any) -> Any:
        if isinstance(value, list | tuple) and not value:
            raise ValueError(
                "a match entry needs at least one rule (else use target legacy or new)"
            )
        return value

    def decide(self, facts: RequestFacts) -> tuple[str, Side]:
        """The deciding rule (its index, or "otherwise") and the side it names."""
        for index, rule in enumerate(self.rules):
            if rule.holds(facts):
                return str(index), rule.side
        return OTHERWISE, self.otherwise

    @property
    def serves_new(self) -> bool:
        return self.otherwise == NEW or any(rule.side == NEW for rule in self.rules)

    @property
    def moved(self) -> bool:
        return self.otherwise == NEW and all(rule.side == NEW for rule in self.rules)

    @property
    def reads_session(self) -> bool:
        return any(rule.session is not None for rule in self.rules)


class Match:
    """`target: match`: the side named by the first rule the request's facts satisfy."""

    name: ClassVar[str] = "match"
    options: ClassVar[type[EntryOptions]] = MatchOptions

    def __init__(self, context: Context) -> None:
        self.context = context
        self.decisions = context.metrics.match_decisions

    def __call__(self, exchange: Exchange, receive: Receive, send: Send) -> Awaitable[object]:
        entry = exchange.entry
        assert entry is not None and isinstance(entry.options, MatchOptions)
        rule, side = entry.options.decide(RequestFacts(exchange.scope, self.context.session))
        exchange.decision = OTHERWISE if rule == OTHERWISE else f"rule {rule}"
        self.decisions.labels(entry.path, rule, side).inc()
        return serve_side(self.context, exchange, side, receive, send)

    @staticmethod
    def summary(entry: RouteEntry) -> str:
        assert isinstance(entry.options, MatchOptions)
        count = len(entry.options.rules)
        return f"match ({count} rule{'s' if count > 1 else ''}, else {entry.options.otherwise})"

    @staticmethod
    def describe(entry: RouteEntry, state: EntryState | None) -> dict[str, Any]:
        options = entry.options
        assert isinstance(options, MatchOptions)
        described = {
            "rules": [rule.describe() for rule in options.rules],
            "otherwise": options.otherwise,
            "fallback": options.fallback,
            "guard": describe_guard(state),
        }
        return with_shadow(described, entry, state)


def _field(operator: str) -> str:
    return "in_" if operator == "in" else operator
