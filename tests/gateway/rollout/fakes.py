"""In-memory stand-ins for the controller's inputs: the fleet's counters, parity and a clock."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from gateway.rollout.decide import ParityFigures
from gateway.rollout.figures import DURATION_BUCKETS, REQUESTS, ROLLBACKS, Totals

START = datetime.datetime(2026, 1, 1, 10, 0, 0, tzinfo=datetime.UTC)


class FakeClock:
    def __init__(self, now: datetime.datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += datetime.timedelta(seconds=seconds)


class FakeSource:
    """Cumulative counters a test adds to, as one gateway would count requests."""

    name = "fake"

    def __init__(self) -> None:
        self.current = Totals()

    def totals(self) -> Totals:
        copy = Totals()
        copy.origins = {origin: dict(series) for origin, series in self.current.origins.items()}
        return copy

    def totals_at(self, when: float) -> Totals | None:
        return None

    def serve(
        self,
        route: str,
        side: str,
        count: int,
        *,
        errors: int = 0,
        seconds: float = 0.01,
        method: str = "GET",
    ) -> None:
        labels = {"route": route, "side": side, "method": method}
        self.current.add_sample(REQUESTS, {**labels, "status": "200"}, count - errors)
        self.current.add_sample(REQUESTS, {**labels, "status": "500"}, errors)
        for bound in (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, float("inf")):
            counted = count if seconds <= bound else 0
            self.current.add_sample(DURATION_BUCKETS, {**labels, "le": str(bound)}, counted)

    def trip(self, route: str) -> None:
        self.current.add_sample(ROLLBACKS, {"route": route, "reason": "error_ratio"}, 1)


@dataclass
class FakeParity:
    figures: dict[str, ParityFigures] = field(default_factory=dict)

    def parity(self, route: str, methods: frozenset[str] | None) -> ParityFigures | None:
        return self.figures.get(route)
