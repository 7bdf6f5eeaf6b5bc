"""A gateway's own guard rollbacks, told to GATEWAY_NOTIFY_URL once per trip.

Only where no rollout controller tells them (GATEWAY_NOTIFY_ROLLBACKS): the controller sees
every gateway's rollbacks, a gateway process only its own, so with both a fleet would hear each
trip twice.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from gateway.behaviours.guard import Guard, Rollback
from gateway.observe.notify import Figures, Notice, Notifier
from gateway.pipeline.entry_state import EntryState

Observed = Callable[[EntryState, Rollback | None], None]


def rollback_notice(state: EntryState, rollback: Rollback) -> Notice:
    entry = state.entry
    guard = state.get(Guard)
    figures: Figures = dict(guard.figures()) if guard is not None else {}
    extra = {
        "guard": rollback.reason,
        "configured_target": entry.target,
        "cooldown": guard.options.cooldown if guard is not None else None,
        "pid": os.getpid(),  # each gateway process judges its own traffic
    }
    return Notice(
        "guard_rollback",
        entry.path,
        f"Guard rolled back {entry.path} to legacy",
        rollback.detail,
        f"guard ({rollback.reason})",
        tuple(sorted(entry.methods)) if entry.methods else None,
        figures,
        extra,
    )


def telling_rollbacks(observed: Observed, notifier: Notifier) -> Observed:
    """`observed`, and each rollback it is given told to `notifier` (once: a trip is given once)."""

    def told(state: EntryState, rollback: Rollback | None) -> None:
        observed(state, rollback)
        if rollback is not None:
            notifier.notify(rollback_notice(state, rollback))

    return told
