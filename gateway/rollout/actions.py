"""A person's hand on a rollout: approve, pause, resume, abort; each an edit of the entry made
through the store, with the reason written in its status.

The same functions serve `gateway rollout ...` and the admin API's POST actions.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any, Literal

from gateway.config.routes_file import RoutesFileError, parse_routes
from gateway.options.rollout import RolloutStatus
from gateway.rollout.controller import utc_now, view_of
from gateway.rollout.decide import EntryView, abort_verdict
from gateway.rollout.routes_edit import RoutesDocument, status_yaml
from gateway.rollout.store import RoutesStore, StoreConflict

Action = Literal["approve", "pause", "resume", "abort"]
ACTIONS: tuple[Action, ...] = ("approve", "pause", "resume", "abort")


class ActionError(ValueError):
    """The action does not fit the route or its state; the message says why."""


@dataclass(frozen=True, slots=True)
class Edit:
    values: dict[str, Any]
    drop: tuple[str, ...]
    status: RolloutStatus
    fill: dict[str, Any] = field(default_factory=dict)


def find_view(text: str, source: str, route: str, method: str | None) -> EntryView:
    """The rollout entry for `route` (a template as written) and, if several, `method`."""
    table = parse_routes(text.encode("utf-8"), source)
    wanted = method.upper() if method else None
    candidates = [
        entry
        for entry in table.entries
        if entry.path == route
        and (wanted is None or entry.methods is None or wanted in entry.methods)
    ]
    views = [view for entry in candidates if (view := view_of(entry)) is not None]
    if not views:
        raise ActionError(f"no entry for {route} with a rollout in {source}")
    if len(views) > 1:
        raise ActionError(f"several rollout entries for {route}: name one with --method")
    return views[0]


def list_views(text: str, source: str) -> list[EntryView]:
    table = parse_routes(text.encode("utf-8"), source)
    return [view for entry in table.entries if (view := view_of(entry)) is not None]


def plan(view: EntryView, action: Action, reason: str, by: str, now: datetime.datetime) -> Edit:
    status = view.status
    said = f"{action} by {by}" + (f": {reason}" if reason else "")
    if action == "abort":
        if view.target not in ("canary", "shadow"):
            raise ActionError(f"{view.describe()} is not rolling out (target {view.target})")
        verdict = abort_verdict(view, "operator", said, None, now)
        assert verdict.status is not None
        status = verdict.status.model_copy(update={"by": by})
        return Edit(verdict.values, verdict.drop, status, verdict.fill)
    if status is None:
        raise ActionError(f"{view.describe()} has not started its rollout yet")
    if action == "resume":
        return _resume(view, status, said, by, now)
    if status.state in ("aborted", "done"):
        raise ActionError(f"{view.describe()} is {status.state}: resume it first")
    update: dict[str, Any] = {"decision": action, "reason": said, "by": by, "at": now}
    if action == "pause":
        update["paused"] = True
    else:
        steps = view.rollout.steps
        if status.step >= len(steps):
            raise ActionError(f"{view.describe()} is at its last step: nothing to approve")
        update["approved"] = tuple(sorted({*status.approved, steps[status.step]}))
    return Edit({}, (), status.model_copy(update=update))


def _resume(
    view: EntryView, status: RolloutStatus, said: str, by: str, now: datetime.datetime
) -> Edit:
    if status.state == "done":
        raise ActionError(f"{view.describe()} has finished its rollout")
    if status.state != "aborted":
        if not status.paused:
            raise ActionError(f"{view.describe()} is neither paused nor aborted")
        update = {"paused": False, "decision": "resume", "reason": said, "by": by, "at": now}
        return Edit({}, (), status.model_copy(update=update))
    restore = dict(status.restore or {"target": "canary"})
    target = restore.get("target", "canary")
    values: dict[str, Any] = {**restore, "target": target}
    state = "shadow" if target == "shadow" else "stepping"
    step = 0 if target == "shadow" else 1
    if target == "canary":
        values["weight"] = view.rollout.steps[0]
    restarted = RolloutStatus(
        state=state,
        step=step,
        weight=values.get("weight"),
        since=now,
        decision="resume",
        reason=said,
        at=now,
        by=by,
    )
    return Edit(values, (), restarted)


def apply(
    store: RoutesStore,
    route: str,
    method: str | None,
    action: Action,
    reason: str = "",
    by: str = "operator",
    now: datetime.datetime | None = None,
) -> RolloutStatus:
    """Make the edit; a file changed meanwhile is read again, a few times at most."""
    for _ in range(5):
        snapshot = store.read()
        view = find_view(snapshot.text, store.source, route, method)
        edit = plan(view, action, reason, by, now or utc_now())
        document = RoutesDocument(snapshot.text)
        document.update(
            view.path,
            view.methods,
            {**edit.values, "status": status_yaml(edit.status)},
            edit.drop,
            edit.fill,
        )
        text = document.text()
        parse_routes(text.encode("utf-8"), store.source)  # raises rather than write a bad table
        try:
            store.write(text, snapshot)
        except StoreConflict:
            continue
        return edit.status
    raise ActionError(f"{store.source} kept changing; try again")


__all__ = [
    "ACTIONS",
    "Action",
    "ActionError",
    "RoutesFileError",
    "apply",
    "find_view",
    "list_views",
]
