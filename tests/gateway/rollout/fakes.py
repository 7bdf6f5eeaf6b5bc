"""In-memory stand-ins for the controller's inputs: the fleet's counters, parity and a clock."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from gateway.rollout.decide import ParityFigures
from gateway.rollout.figures import SideTotals, Totals

START = datetime.datetime(2026, 1, 1, 10, 0, 0, tzinfo=datetime.UTC)


class FakeClock:
    def __init__(self, now: datetime.datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += datetime.timedelta(seconds=seconds)


class FakeSource:
    """Cumulative counters a test adds to, as gateways would count requests."""

    name = "fake"

    def __init__(self) -> None:
        self.current = Totals()

    def totals(self) -> Totals:
        copy = Totals()
        for key, side in self.current.sides.items():
            copy.sides[key] = SideTotals(side.requests, side.errors, dict(side.buckets))
        copy.trips = dict(self.current.trips)
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
        totals = self.current.sides.setdefault((route, side, method), SideTotals())
        totals.requests += count
        totals.errors += errors
        for bound in (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, float("inf")):
            if seconds <= bound:
                totals.buckets[bound] = totals.buckets.get(bound, 0.0) + count
            else:
                totals.buckets.setdefault(bound, 0.0)

    def trip(self, route: str) -> None:
        self.current.trips[route] = self.current.trips.get(route, 0.0) + 1


@dataclass
class FakeParity:
    figures: dict[str, ParityFigures] = field(default_factory=dict)

    def parity(self, route: str, methods: frozenset[str] | None) -> ParityFigures | None:
        return self.figures.get(route)
