"""Per-route state that lives across requests and reloads: the parts each policy keeps.

A compiled RouteTable is immutable and replaced whole on reload; the state of its entries is
kept here instead, carried over to the new table for every entry whose path, methods and
options are unchanged (so an unrelated edit does not undo a rollback), and dropped for the
others (so editing a rolled-back route is how an operator tries it again).

An entry's `status` (where its rollout stands, written by the rollout controller) is kept
beside its options and is not part of its key: the controller writing a decision must not reset
a guard's rollback or a shadow route's learned noise.

Which parts an entry gets is the registry's business (gateway.behaviours.registry); which
entry is a canary and what weight it shows, the canary's.
"""

from __future__ import annotations

from gateway.behaviours.canary import published_weight
from gateway.behaviours.guard import Guard, Rollback
from gateway.behaviours.registry import state_parts
from gateway.observe.event_log import log_event
from gateway.observe.metrics import GatewayMetrics
from gateway.pipeline.entry_state import EntryState
from gateway.routing.table import RouteEntry, RouteTable

EntryKey = tuple[object, ...]


class RouteStates:
    def __init__(self, metrics: GatewayMetrics) -> None:
        self.metrics = metrics
        self._by_key: dict[EntryKey, EntryState] = {}
        # Looked up per request by the entry object itself (identity), which is cheaper than
        # hashing its options; entries of a table swapped out simply find no state.
        self._by_id: dict[int, EntryState] = {}
        self._published: set[tuple[str, ...]] = set()
        self._weights: set[str] = set()

    def sync(self, table: RouteTable) -> None:
        """Adopt the entries of a table just swapped in."""
        by_key: dict[EntryKey, EntryState] = {}
        for entry in table.entries:
            key = entry.key
            state = self._by_key.get(key) or self._new_state(entry)
            state.entry = entry
            by_key[key] = state
        self._by_key = by_key
        self._by_id = {id(state.entry): state for state in by_key.values()}
        self._publish()

    def _new_state(self, entry: RouteEntry) -> EntryState:
        return EntryState.of(entry, state_parts(entry))

    def get(self, entry: RouteEntry) -> EntryState | None:
        return self._by_id.get(id(entry))

    def effective_target(self, state: EntryState | None, entry: RouteEntry) -> str:
        """Where the entry sends requests now (legacy while rolled back). A read, per request."""
        return state.target() if state is not None else entry.target

    def observed(self, state: EntryState, rollback: Rollback | None) -> None:
        """After the guard observed an answer: publish a rollback, or the end of a cooldown."""
        if rollback is not None:
            self._rolled_back(state, rollback)
        elif state.target() != state.published_target:
            self._publish()  # a cooldown ended

    def _rolled_back(self, state: EntryState, rollback: Rollback) -> None:
        entry = state.entry
        self.metrics.rollbacks.labels(entry.path, rollback.reason).inc()
        record = {
            "route": entry.path,
            "methods": sorted(entry.methods) if entry.methods else None,
            "configured_target": entry.target,
            "reason": rollback.reason,
            "detail": rollback.detail,
            "cooldown": guard.options.cooldown if (guard := state.get(Guard)) else None,
        }
        log_event("rollback", record)
        self._publish()

    def states(self) -> list[EntryState]:
        return list(self._by_key.values())

    def _publish(self) -> None:
        effective: set[tuple[str, ...]] = set()
        weights: set[str] = set()
        for state in self._by_key.values():
            entry = state.entry
            state.published_target = state.target()
            rolled_back = state.published_target != entry.target
            effective.add((entry.path, state.published_target))
            weight = published_weight(entry)
            if weight is not None:
                self.metrics.canary_weight.labels(entry.path).set(0.0 if rolled_back else weight)
                weights.add(entry.path)
        self._published = self.metrics.replace_series(
            self.metrics.effective_target, self._published, effective
        )
        for stale in self._weights - weights:
            self.metrics.forget(self.metrics.canary_weight, (stale,))
        self._weights = weights
