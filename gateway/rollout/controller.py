"""The rollout controller: one pass reads the table and the fleet's figures, decides per route,
and writes the decisions into the table through the store, as one edit.

Only the holder of the leader lock decides (checked before every pass, so a controller that lost
it writes nothing), and the store's compare-and-swap refuses a write over an edit made since the
read: the next pass reads that edit and decides again. Gateways decide nothing: every process
applies the written table through the reload it already has.
"""

from __future__ import annotations

import collections
import datetime
import json
import logging
import threading
import time
import warnings
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge

from gateway.config.routes_file import RoutesFileError, parse_routes
from gateway.observe.access_log import log_time
from gateway.observe.metrics import method_label
from gateway.observe.notify import Notifier
from gateway.options.rollout import RolloutStatus
from gateway.rollout.decide import (
    EntryView,
    NoParity,
    ParityFigures,
    ParitySource,
    StepFigures,
    Verdict,
    decide,
)
from gateway.rollout.figures import FiguresError, FiguresSource, Totals
from gateway.rollout.lock import LeaderLock
from gateway.rollout.notices import acted_notice, guard_notice, written_notice
from gateway.rollout.routes_edit import RoutesDocument, status_yaml
from gateway.rollout.store import RoutesStore, StoreConflict
from gateway.routing.table import RouteEntry, RouteTable

logger = logging.getLogger("gateway.rollout")

Clock = Callable[[], datetime.datetime]
EntryKey = tuple[str, frozenset[str] | None]
StatusMark = tuple[str, datetime.datetime | None, str]  # decision, at, by


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)


class RolloutMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.decisions = Counter(
            "gateway_rollout_decisions_total",
            "Rollout decisions by route, methods and decision (start, advance, hold, abort, ...).",
            ["route", "methods", "decision"],
            registry=registry,
        )
        self.step = Gauge(
            "gateway_rollout_step",
            "The step each rollout is at (1 for the first; 0 in shadow or before).",
            ["route", "methods", "state"],
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        self.figure = Gauge(
            "gateway_rollout_figure",
            "The figures of each rollout's last judgement, since its step began.",
            ["route", "methods", "figure"],
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        self.passes = Counter(
            "gateway_rollout_passes_total",
            "Controller passes by result: written, unchanged, not_leader, conflict or failed.",
            ["result"],
            registry=registry,
        )


@dataclass(frozen=True, slots=True)
class PassResult:
    result: str  # written, unchanged, not_leader, conflict, failed
    verdicts: tuple[tuple[EntryView, Verdict], ...] = ()
    detail: str = ""


def metric_methods(methods: frozenset[str] | None) -> frozenset[str] | None:
    """The `method` label values of an entry's requests (HEAD follows GET, as the table does)."""
    if methods is None:
        return None
    labels = {method_label(method) for method in methods}
    if "GET" in labels:
        labels.add("HEAD")
    return frozenset(labels)


def view_of(entry: RouteEntry) -> EntryView | None:
    options = entry.options
    if options.rollout is None:
        return None
    written = options.model_dump(mode="json", exclude_unset=True, exclude={"rollout"})
    if "sticky" in written:
        written["sticky"] = str(getattr(options, "sticky", ""))  # as written: "header:x-token"
    return EntryView(
        path=entry.path,
        methods=entry.methods,
        target=entry.target,
        weight=getattr(options, "weight", None),
        rollout=options.rollout,
        status=entry.status,
        options=written,
    )


class Controller:
    def __init__(
        self,
        store: RoutesStore,
        lock: LeaderLock,
        source: FiguresSource,
        parity: ParitySource | None = None,
        metrics: RolloutMetrics | None = None,
        clock: Clock = utc_now,
        notifier: Notifier | None = None,
        notify_rollbacks: bool = True,
    ) -> None:
        self.store = store
        self.lock = lock
        self.source = source
        self.parity = parity or NoParity()
        self.metrics = metrics
        self.clock = clock
        # Totals when each step began, by the step's start; see gateway.rollout.figures.
        self._baselines: dict[datetime.datetime, Totals] = {}
        self._said: tuple[str, str] | None = None  # the last pass's result and detail
        self._figures_error: str | None = None  # why the last pass had no figures
        # What the step and figure gauges show, by route and methods, so that what no longer
        # holds can be removed.
        self._shown_state: dict[tuple[str, str], str] = {}
        self._shown_figures: dict[tuple[str, str], set[str]] = {}
        # Notifications: the controller tells what it wrote, what people did to a rollout since
        # its last pass (their edits reach it through the file), and, with notify_rollbacks,
        # the fleet's guard rollbacks (the gateways then send none of their own).
        self.notifier = notifier
        self.notify_rollbacks = notify_rollbacks
        self._marks: dict[EntryKey, StatusMark] | None = None  # None: before the first pass
        self._trip_totals: tuple[Totals, float] | None = None

    def run_once(self) -> PassResult:
        result = self._pass()
        if self.metrics is not None:
            self.metrics.passes.labels(result.result).inc()
        # A follower, or a table that stays unreadable, would say the same every few seconds
        # for as long as it lasts: said once, and again when it changes.
        said = (result.result, result.detail)
        if result.result not in ("unchanged", "written") and said != self._said:
            _log_pass(result)
        self._said = said
        return result

    def run(
        self,
        stop: threading.Event,
        every: float,
        gate: AbstractContextManager[None] | None = None,
    ) -> None:
        """Pass after pass until `stop` is set; a failing pass is logged, never fatal.

        Each pass runs inside `gate` (gateway.rollout.fork_gate, in a process that forks)."""
        gate = gate or nullcontext()
        try:
            while not stop.is_set():
                try:
                    with gate:
                        self.run_once()
                except Exception:  # a controller that dies stops every rollout: log, go on
                    logger.exception("rollout pass failed")
                stop.wait(every)
        finally:
            self.lock.release()
            if self.notifier is not None:
                self.notifier.close()

    def _pass(self) -> PassResult:
        if not self.lock.acquire():
            return PassResult("not_leader", detail="another controller holds the lock")
        try:
            snapshot = self.store.read()
            table = parse_routes(snapshot.text.encode("utf-8"), self.store.source)
        except (OSError, UnicodeDecodeError, RoutesFileError) as exc:
            return PassResult("failed", detail=f"cannot read the routes: {exc}")
        views = [view for entry in table.entries if (view := view_of(entry)) is not None]
        self._tell_actions(views)
        if not views:
            self._tell_trips(self._totals() if self._tells_trips else None)
            return PassResult("unchanged")
        totals = self._totals()
        self._tell_trips(totals)
        now = self.clock()
        # The weight gauge names the template only: with two canary entries on one template
        # (two methods), it cannot tell which one a gateway serves.
        canaries = collections.Counter(e.path for e in table.entries if e.target == "canary")
        verdicts = []
        for view in views:
            figures = self._figures(view, totals, alone=canaries[view.path] == 1)
            verdict = decide(view, figures, self._parity(view), now)
            if verdict is not None:
                verdicts.append((view, verdict))
                self._record(view, verdict)
        self._keep_baselines(views, verdicts, totals)
        changed = [(v, verdict) for v, verdict in verdicts if verdict.changes(v.status)]
        if not changed:
            return PassResult("unchanged", tuple(verdicts))
        try:
            text = self._edited(snapshot.text, changed, table)
            if not self.lock.acquire():  # lost meanwhile (a lease): never write as a follower
                return PassResult("not_leader", detail="the lock was lost before writing")
            self.store.write(text, snapshot)
        except StoreConflict as exc:
            return PassResult("conflict", tuple(verdicts), str(exc))
        except (OSError, RoutesFileError, LookupError) as exc:
            return PassResult("failed", tuple(verdicts), f"cannot write: {exc}")
        for view, verdict in changed:
            _log_decision(view, verdict, written=True)
            self._tell_written(view, verdict)
        return PassResult("written", tuple(verdicts))

    @property
    def _tells_trips(self) -> bool:
        return self.notifier is not None and self.notify_rollbacks

    def _tell_written(self, view: EntryView, verdict: Verdict) -> None:
        if self.notifier is None or verdict.status is None:
            return
        if self._marks is not None:  # what this controller wrote is no person's action
            self._marks[(view.path, view.methods)] = _mark(verdict.status)
        notice = written_notice(view, verdict)
        if notice is not None:
            self.notifier.notify(notice)

    def _tell_actions(self, views: list[EntryView]) -> None:
        """Tell the pauses, resumes, approvals and aborts people made since the last pass."""
        if self.notifier is None:
            return
        marks: dict[EntryKey, StatusMark] = {}
        for view in views:
            status = view.status
            if status is None:
                continue
            key = (view.path, view.methods)
            marks[key] = _mark(status)
            # The first pass only learns where things stand: they were before it started.
            if self._marks is None or self._marks.get(key) == marks[key]:
                continue
            notice = acted_notice(view, status) if status.by != "controller" else None
            if notice is not None:
                self.notifier.notify(notice)
        self._marks = marks

    def _tell_trips(self, totals: Totals | None) -> None:
        """Tell the guard rollbacks the fleet counted since the last pass, route by route."""
        if not self._tells_trips or totals is None:
            return
        assert self.notifier is not None
        now = time.monotonic()
        last, self._trip_totals = self._trip_totals, (totals, now)
        if last is None:
            return  # the first figures seen: what they count happened before this controller
        counted = totals.since(last[0])
        for route, trips in counted.trips_by_route().items():
            new = counted.side(route, "new", None)
            legacy = counted.side(route, "legacy", None)
            self.notifier.notify(guard_notice(route, trips, new, legacy, now - last[1]))

    def _keep_baselines(
        self,
        views: list[EntryView],
        verdicts: list[tuple[EntryView, Verdict]],
        totals: Totals | None,
    ) -> None:
        """A step that begins now counts from these totals; steps no entry is at are forgotten."""
        starts = {view.status.since for view in views if view.status is not None}
        for _, verdict in verdicts:
            if verdict.status is not None and totals is not None:
                starts.add(verdict.status.since)
                self._baselines.setdefault(verdict.status.since, totals)
        self._baselines = {since: t for since, t in self._baselines.items() if since in starts}

    def _totals(self) -> Totals | None:
        try:
            totals = self.source.totals()
        except FiguresError as exc:
            # Said once while the source stays down the same way, not on every pass.
            if str(exc) != self._figures_error:
                logger.warning(
                    json.dumps({"event": "rollout_figures", "error": str(exc), "time": log_time()})
                )
            self._figures_error = str(exc)
            return None
        self._figures_error = None
        return totals

    def _figures(
        self, view: EntryView, totals: Totals | None, *, alone: bool
    ) -> StepFigures | None:
        status = view.status
        if totals is None or status is None:
            return None
        baseline = self._baselines.get(status.since)
        from_now = False
        if baseline is None:
            try:
                baseline = self.source.totals_at(status.since.timestamp())
            except FiguresError:
                baseline = None
            # A source without history: the step counts from the first figures seen in it.
            from_now = baseline is None
            baseline = baseline if baseline is not None else totals
            self._baselines[status.since] = baseline
        counted = totals.since(baseline)
        methods = metric_methods(view.methods)
        # Rollbacks are counted by template only: without a guard of its own, a trip on the
        # template is another entry's (another method's), and not this rollout's to act on.
        guarded = view.options.get("guard") is not None
        return StepFigures(
            counted.side(view.path, "new", methods),
            counted.side(view.path, "legacy", methods),
            counted.trips(view.path) if guarded else 0.0,
            from_now,
            counted.serving(view.path) if alone else (),
        )

    def _parity(self, view: EntryView) -> ParityFigures | None:
        # Only a parity gate reads the ledger: a ledger nobody asked for (not there yet, or
        # turned off elsewhere) would otherwise be warned about on every pass.
        if view.rollout.min_match_ratio is None:
            return None
        return self.parity.parity(view.path, view.methods)

    def _edited(
        self, text: str, changed: list[tuple[EntryView, Verdict]], table: RouteTable
    ) -> str:
        document = RoutesDocument(text)
        for view, verdict in changed:
            assert verdict.status is not None
            values = {**verdict.values, "status": status_yaml(verdict.status)}
            document.update(view.path, view.methods, values, verdict.drop, verdict.fill)
        edited = document.text()
        # Never write a table the gateways would refuse: they would keep the old one, silently.
        parse_routes(edited.encode("utf-8"), self.store.source)
        return edited

    def _record(self, view: EntryView, verdict: Verdict) -> None:
        if self.metrics is None:
            return
        route, methods = view.path, _methods_label(view.methods)
        self.metrics.decisions.labels(route, methods, verdict.decision).inc()
        if verdict.status is not None:
            state = verdict.status.state
            self.metrics.step.labels(route, methods, state).set(verdict.status.step)
            # One state per rollout: the one it left would read as a second, current state.
            left = self._shown_state.get((route, methods))
            if left is not None and left != state:
                _remove(self.metrics.step, route, methods, left)
            self._shown_state[(route, methods)] = state
        if verdict.figures is not None:
            known = verdict.figures.model_dump(exclude_none=True)
            for name, value in known.items():
                self.metrics.figure.labels(route, methods, name).set(value)
            # Not known at this judgement: the last one's value would mislead.
            for name in self._shown_figures.get((route, methods), set()) - set(known):
                _remove(self.metrics.figure, route, methods, name)
            self._shown_figures[(route, methods)] = set(known)


def _mark(status: RolloutStatus) -> StatusMark:
    return status.decision, status.at, status.by


def _remove(gauge: Gauge, *labels: str) -> None:
    # prometheus-client warns whenever PROMETHEUS_MULTIPROC_DIR is set; with --workers it is
    # set for the workers, after this process chose to keep its values in memory, where a
    # removal works.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Removal of labels", UserWarning)
        gauge.remove(*labels)


def _methods_label(methods: frozenset[str] | None) -> str:
    return ",".join(sorted(methods)) if methods else "*"


def _log_pass(result: PassResult) -> None:
    # The time last: readers find these lines by their start, `{"event": "rollout...`.
    record = {
        "event": "rollout_pass",
        "result": result.result,
        "detail": result.detail,
        "time": log_time(),
    }
    logger.warning(json.dumps(record))


def _log_decision(view: EntryView, verdict: Verdict, *, written: bool) -> None:
    status = verdict.status
    record = {
        "event": "rollout",
        "route": view.path,
        "methods": sorted(view.methods) if view.methods else None,
        "decision": verdict.decision,
        "reason": verdict.reason,
        "gate": verdict.gate,
        "state": status.state if status else None,
        "step": status.step if status else None,
        "weight": verdict.values.get("weight", view.weight),
        "target": verdict.values.get("target", view.target),
        "figures": verdict.figures.model_dump(exclude_none=True) if verdict.figures else None,
        "written": written,
        "time": log_time(),
    }
    logger.info(json.dumps(record))
