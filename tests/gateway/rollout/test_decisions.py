"""The controller's decisions, in-process: a routes file in a temp folder, counters and parity
in memory and a fake clock; every pass is judged by what it wrote into the file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from gateway.config.routes_file import parse_routes
from gateway.config.routes_yaml import load_yaml
from gateway.rollout import actions
from gateway.rollout.controller import Controller, PassResult, RolloutMetrics
from gateway.rollout.decide import ParityFigures
from gateway.rollout.figures import FiguresError, Totals
from gateway.rollout.file_lock import FileLock
from gateway.rollout.file_store import FileStore
from tests.gateway.rollout.fakes import FakeClock, FakeParity, FakeSource

ROUTE = "/api/tickets"

CANARY = """\
# The ticket list moves in steps.
default: legacy
routes:
  - path: /api/tickets
    methods: [GET]
    target: canary
    weight: 0
    sticky: "header:X-Token"   # the same users stay on one side
    guard:
      min_requests: 20
    rollout:
      steps: [5, 50, 100]
      interval: 60
      min_requests: 100
      max_error_ratio: 0.01
      max_error_ratio_vs_legacy: 2
      max_latency_ratio: 1.5{extra}

  # Users stay on legacy.
  - path: /api/users
    target: legacy
"""


class Rig:
    def __init__(self, tmp_path: Path, text: str) -> None:
        self.path = tmp_path / "routes.yaml"
        self.path.write_text(text, encoding="utf-8")
        self.store = FileStore(self.path)
        self.clock = FakeClock()
        self.source = FakeSource()
        self.parity = FakeParity()
        self.lock = FileLock(tmp_path / "lock")
        self.controller = Controller(
            self.store, self.lock, self.source, self.parity, clock=self.clock
        )
        _RIGS.append(self)

    def run(self) -> PassResult:
        return self.controller.run_once()

    def entry(self, path: str = ROUTE) -> dict[str, Any]:
        data = load_yaml(self.path.read_text(encoding="utf-8")).data
        (found,) = [item for item in data["routes"] if item["path"] == path]
        return dict(found)

    def healthy_step(self, count: int = 200) -> PassResult:
        self.source.serve(ROUTE, "new", count)
        self.source.serve(ROUTE, "legacy", count)
        self.clock.advance(61)
        return self.run()


_RIGS: list[Rig] = []


@pytest.fixture(autouse=True)
def _release_locks() -> Iterator[None]:
    yield
    while _RIGS:
        _RIGS.pop().lock.release()


def rig(tmp_path: Path, extra: str = "") -> Rig:
    return Rig(tmp_path, CANARY.format(extra=extra))


def test_a_canary_starts_at_its_first_step(tmp_path: Path) -> None:
    r = rig(tmp_path)
    assert r.run().result == "written"
    entry = r.entry()
    assert entry["weight"] == 5
    assert entry["status"]["state"] == "stepping"
    assert entry["status"]["step"] == 1
    assert entry["status"]["decision"] == "start"


def test_low_traffic_holds_and_says_so_never_aborts(tmp_path: Path) -> None:
    r = rig(tmp_path)
    r.run()
    r.source.serve(ROUTE, "new", 99, errors=99)  # all failing, but too few to judge
    r.clock.advance(600)
    assert r.run().result == "written"  # the hold's reason is news once
    entry = r.entry()
    assert entry["weight"] == 5 and entry["target"] == "canary"
    assert entry["status"]["decision"] == "hold"
    assert entry["status"]["gate"] == "min_requests"
    assert "low traffic: 99 of 100" in entry["status"]["reason"]
    before = r.path.read_bytes()
    r.source.serve(ROUTE, "new", 0)
    assert r.run().result == "unchanged"  # the same hold again: nothing written
    assert r.path.read_bytes() == before


def test_a_healthy_route_steps_through_every_weight_to_new(tmp_path: Path) -> None:
    r = rig(tmp_path)
    r.run()
    weights = []
    for _ in range(3):
        r.healthy_step()
        weights.append(r.entry().get("weight"))
    entry = r.entry()
    assert weights == [50, 100, None]
    assert entry["target"] == "new"
    assert entry["status"]["state"] == "done"
    assert "rollout" not in entry and "sticky" not in entry
    assert entry["guard"] == {"min_requests": 20}  # what fits `new` is kept
    parse_routes(r.path.read_bytes(), "written")  # still a valid table


def test_a_step_waits_for_its_interval(tmp_path: Path) -> None:
    r = rig(tmp_path)
    r.run()
    r.source.serve(ROUTE, "new", 500)
    r.source.serve(ROUTE, "legacy", 500)
    r.clock.advance(30)
    r.run()
    assert r.entry()["weight"] == 5
    assert r.entry()["status"]["gate"] == "interval"
    r.clock.advance(31)
    r.run()
    assert r.entry()["weight"] == 50


def test_figures_count_from_the_start_of_the_step(tmp_path: Path) -> None:
    r = rig(tmp_path)
    r.run()
    r.healthy_step(150)  # to 50%
    r.clock.advance(61)
    r.run()  # the new step's baseline: the 150 before it do not count
    r.source.serve(ROUTE, "new", 50)
    (verdict,) = [verdict for _, verdict in r.run().verdicts]
    assert r.entry()["weight"] == 50
    assert verdict.figures is not None and verdict.figures.new_requests == 50


@pytest.mark.parametrize(
    ("new_errors", "legacy_errors", "seconds", "gate"),
    [
        pytest.param(5, 0, 0.01, "error_ratio", id="absolute-error-ratio"),
        pytest.param(5, 0, 0.01, "error_ratio_vs_legacy", id="relative-to-legacy"),
        pytest.param(0, 0, 0.4, "latency_ratio", id="latency-ratio"),
    ],
)
def test_a_failing_gate_aborts_to_legacy_with_the_reason(
    tmp_path: Path, new_errors: int, legacy_errors: int, seconds: float, gate: str
) -> None:
    text = CANARY.format(extra="")
    if gate == "error_ratio_vs_legacy":  # a loose absolute gate: only the relative one fails
        text = text.replace("max_error_ratio: 0.01", "max_error_ratio: 0.5")
    r = Rig(tmp_path, text)
    r.run()
    r.source.serve(ROUTE, "new", 200, errors=new_errors, seconds=seconds)
    r.source.serve(ROUTE, "legacy", 200, errors=legacy_errors)
    r.run()
    entry = r.entry()
    assert entry["target"] == "legacy"
    assert "weight" not in entry and "guard" not in entry  # legacy takes neither
    status = entry["status"]
    assert (status["state"], status["decision"], status["gate"]) == ("aborted", "abort", gate)
    assert status["restore"]["guard"] == {"min_requests": 20}
    parse_routes(r.path.read_bytes(), "written")
    # Never restarted by the controller.
    r.clock.advance(3600)
    assert r.run().result == "unchanged"


@pytest.mark.parametrize(
    ("new_errors", "seconds", "why"),
    [
        # 3 of 200 is 1.5%, over the 1% allowed, but 3 errors are not evidence (min_errors 5).
        pytest.param(3, 0.01, "3 errors", id="too-few-errors"),
        # 25 ms against 10 ms is 2.5x, over the 1.5x allowed, but 15 ms: under the 20 ms floor.
        pytest.param(0, 0.025, "15 ms", id="under-the-latency-floor"),
    ],
)
def test_noise_under_the_gates_minimums_does_not_abort(
    tmp_path: Path, new_errors: int, seconds: float, why: str
) -> None:
    r = Rig(tmp_path, CANARY.format(extra=""))
    r.run()
    r.source.serve(ROUTE, "new", 200, errors=new_errors, seconds=seconds)
    r.source.serve(ROUTE, "legacy", 200, seconds=0.01)
    r.run()
    entry = r.entry()
    assert entry["target"] == "canary", why
    status = entry["status"]
    assert status["decision"] == "hold" and status["gate"] == "interval", why
    figures = status["figures"]
    assert figures["latency_quantile"] == pytest.approx(0.95)  # 10 answers above it in 200


def test_a_guard_trip_anywhere_aborts(tmp_path: Path) -> None:
    r = rig(tmp_path)
    r.run()
    r.source.trip(ROUTE)
    r.run()
    assert r.entry()["target"] == "legacy"
    assert "guard rolled back in 1 gateway" in r.entry()["status"]["reason"]


def test_a_guard_trip_of_another_entry_on_the_template_does_not_abort(tmp_path: Path) -> None:
    text = CANARY.format(extra="").replace("    guard:\n      min_requests: 20\n", "")
    text += """
  # Writes have their own entry, with a guard.
  - path: /api/tickets
    methods: [POST]
    target: canary
    weight: 10
    guard: true
"""
    r = Rig(tmp_path, text)
    r.run()
    # The rollbacks metric names the template only: this trip can only be the POST entry's
    # guard, since the GET entry has none.
    r.source.trip(ROUTE)
    r.run()
    gets = load_yaml(r.path.read_text(encoding="utf-8")).data["routes"][0]
    assert (gets["methods"], gets["target"]) == (["GET"], "canary")
    assert gets["status"]["gate"] == "min_requests"


def test_gates_count_only_the_entrys_methods(tmp_path: Path) -> None:
    r = rig(tmp_path)
    r.run()
    r.source.serve(ROUTE, "new", 500, errors=500, method="POST")  # another entry's series
    r.source.serve(ROUTE, "new", 150, method="HEAD")  # HEAD follows GET
    r.run()
    assert r.entry()["target"] == "canary"
    assert r.entry()["status"]["figures"]["new_requests"] == 150


def test_an_approval_step_waits_for_a_person(tmp_path: Path) -> None:
    r = rig(tmp_path, "\n      approve: [50]")
    r.run()
    r.healthy_step()
    entry = r.entry()
    assert entry["weight"] == 5
    assert entry["status"]["state"] == "awaiting_approval"
    assert entry["status"]["since"] == "2026-01-01T10:00:00Z"  # still the step's start
    r.clock.advance(600)
    r.source.serve(ROUTE, "new", 200)
    assert r.run().result == "unchanged"
    status = actions.apply(r.store, ROUTE, "GET", "approve", "looks fine", by="alice")
    assert status.approved == (50.0,)
    r.run()
    assert r.entry()["weight"] == 50
    assert r.entry()["status"]["approved"] == [50]


def test_a_first_step_that_waits_for_approval_starts_once_approved(tmp_path: Path) -> None:
    r = rig(tmp_path, "\n      approve: [5]")
    r.run()
    status = r.entry()["status"]
    assert (r.entry()["weight"], status["state"], status["gate"]) == (
        0,
        "awaiting_approval",
        "approval",
    )
    actions.apply(r.store, ROUTE, "GET", "approve")
    r.run()
    status = r.entry()["status"]
    assert (r.entry()["weight"], status["state"], status["step"]) == (5, "stepping", 1)
    # Nobody set the weight by hand: the approved start says so.
    assert (status["decision"], status["reason"]) == ("start", "rollout started: weight 5%")


def test_pause_holds_and_resume_goes_on(tmp_path: Path) -> None:
    r = rig(tmp_path)
    r.run()
    actions.apply(r.store, ROUTE, None, "pause", "release freeze")
    r.healthy_step()
    assert r.entry()["weight"] == 5
    assert r.entry()["status"]["gate"] == "paused"
    actions.apply(r.store, ROUTE, None, "resume")
    r.run()
    assert r.entry()["weight"] == 50


@pytest.mark.parametrize("trip", [False, True], ids=["failing-gate", "guard-trip"])
def test_a_paused_rollout_still_aborts_on_a_failing_gate(tmp_path: Path, trip: bool) -> None:
    r = rig(tmp_path)
    r.run()
    actions.apply(r.store, ROUTE, None, "pause", "looking at the dashboards")
    if trip:
        r.source.trip(ROUTE)
    else:
        r.source.serve(ROUTE, "new", 200, errors=100)
    r.run()
    entry = r.entry()
    # A pause stops the steps, not the protection: the canary's users are still on new.
    assert (entry["target"], entry["status"]["state"]) == ("legacy", "aborted")
    assert entry["status"]["gate"] == ("guard" if trip else "error_ratio")
    assert "paused" not in entry["status"]


def test_abort_and_resume_by_hand_restore_the_canary(tmp_path: Path) -> None:
    r = rig(tmp_path)
    r.run()
    actions.apply(r.store, ROUTE, "GET", "abort", "bad deploy", by="bob")
    entry = r.entry()
    assert entry["target"] == "legacy"
    assert entry["status"]["reason"] == "abort by bob: bad deploy"
    actions.apply(r.store, ROUTE, "GET", "resume")
    entry = r.entry()
    assert (entry["target"], entry["weight"]) == ("canary", 5)
    assert entry["sticky"] == "header:x-token" and entry["guard"] == {"min_requests": 20}
    assert entry["status"]["state"] == "stepping"
    r.run()  # a step this controller did not see begin: its figures count from this pass
    assert (r.entry()["weight"], r.entry()["status"]["gate"]) == (5, "figures")
    r.run()
    assert (r.entry()["weight"], r.entry()["status"]["gate"]) == (5, "min_requests")


def test_a_rollout_from_the_canary_defaults_can_be_resumed_after_an_abort(tmp_path: Path) -> None:
    text = """\
defaults:
  canary: {rollout: {steps: [5, 100], interval: 60, min_requests: 100, max_error_ratio: 0.01}}
routes:
  - path: /api/tickets
    target: canary
    weight: 0
"""
    r = Rig(tmp_path, text)
    r.run()
    r.source.serve(ROUTE, "new", 200, errors=100)
    r.run()
    assert r.entry()["target"] == "legacy"  # legacy inherits no canary defaults: it keeps its own
    assert [view.path for view in actions.list_views(r.path.read_text(), "t")] == [ROUTE]
    actions.apply(r.store, ROUTE, None, "resume")
    entry = r.entry()
    assert (entry["target"], entry["weight"], entry["status"]["state"]) == ("canary", 5, "stepping")
    assert entry["rollout"]["steps"] == [5, 100]
    parse_routes(r.path.read_bytes(), "written")


def test_actions_refuse_what_does_not_fit(tmp_path: Path) -> None:
    r = rig(tmp_path)
    with pytest.raises(actions.ActionError, match="not started"):
        actions.apply(r.store, ROUTE, None, "approve")
    with pytest.raises(actions.ActionError, match="no entry for /nope"):
        actions.apply(r.store, "/nope", None, "pause")
    r.run()
    with pytest.raises(actions.ActionError, match="neither paused nor aborted"):
        actions.apply(r.store, ROUTE, None, "resume")


def test_a_hand_edited_weight_redirects_the_rollout(tmp_path: Path) -> None:
    r = rig(tmp_path)
    r.run()
    r.path.write_text(r.path.read_text().replace("weight: 5", "weight: 50"))
    r.run()
    entry = r.entry()
    assert entry["weight"] == 50
    assert (entry["status"]["step"], entry["status"]["decision"]) == (2, "edit")


@pytest.mark.parametrize(
    ("weight", "step", "then"),
    [
        pytest.param(20, 1, 50, id="between-steps"),
        pytest.param(70, 2, 100, id="between-the-last-two"),
    ],
)
def test_a_weight_set_between_steps_stays_until_the_gates_pass(
    tmp_path: Path, weight: int, step: int, then: int
) -> None:
    r = rig(tmp_path)
    r.run()
    r.path.write_text(r.path.read_text().replace("\n    weight: 5\n", f"\n    weight: {weight}\n"))
    r.run()
    entry = r.entry()
    # The person's weight is kept: no step is taken on the controller's own, without gates.
    assert entry["weight"] == weight
    assert (entry["status"]["step"], entry["status"]["decision"]) == (step, "edit")
    r.healthy_step()
    assert r.entry()["weight"] == then


def test_a_shadow_entry_waits_for_parity_then_becomes_a_canary(tmp_path: Path) -> None:
    text = """\
routes:
  - path: /api/tickets
    methods: [GET]
    target: shadow
    shadow: {sample: 50}
    rollout: {steps: [10, 100], min_match_ratio: 0.99, min_compared: 100}
"""
    r = Rig(tmp_path, text)
    r.run()
    assert r.entry()["status"]["state"] == "shadow"
    assert "no parity evidence" in r.entry()["status"]["reason"]
    r.parity.figures[ROUTE] = ParityFigures(compared=150, match_ratio=0.95)
    r.run()
    assert r.entry()["target"] == "shadow"
    assert "match ratio 0.95 < 0.99" in r.entry()["status"]["reason"]
    r.parity.figures[ROUTE] = ParityFigures(compared=300, match_ratio=0.995)
    r.run()
    entry = r.entry()
    assert (entry["target"], entry["weight"], entry["status"]["step"]) == ("canary", 10, 1)
    assert "shadow" not in entry


@pytest.mark.parametrize(
    ("shadow", "kept"),
    [
        pytest.param("\n    shadow: {sample: 50}", {"sample": 50}, id="its-own-options"),
        pytest.param("", {}, id="the-defaults"),
    ],
)
def test_keep_shadow_makes_the_shadow_options_the_canarys_policy(
    tmp_path: Path, shadow: str, kept: dict[str, Any]
) -> None:
    text = f"""\
routes:
  - path: /api/tickets
    methods: [GET]
    target: shadow{shadow}
    shadow_unsafe: true
    rollout: {{steps: [10, 100], min_match_ratio: 0.99, min_compared: 100, keep_shadow: true}}
"""
    r = Rig(tmp_path, text)
    r.parity.figures[ROUTE] = ParityFigures(compared=300, match_ratio=0.995)
    r.run()
    entry = r.entry()
    assert (entry["target"], entry["weight"], entry["status"]["step"]) == ("canary", 10, 1)
    assert "primary" not in entry
    assert (entry["shadow"], entry["shadow_unsafe"]) == (kept, True)
    # The table it serves: a canary that still compares, in both directions.
    (served,) = parse_routes(r.path.read_bytes(), "routes.yaml").entries
    assert served.options.shadow_policy is not None and served.options.shadow_unsafe


def test_a_parity_gate_on_a_canary_aborts_on_a_low_match_ratio(tmp_path: Path) -> None:
    r = rig(tmp_path, "\n      min_match_ratio: 0.99\n      min_compared: 10")
    r.run()
    r.source.serve(ROUTE, "new", 200)
    r.source.serve(ROUTE, "legacy", 200)
    r.run()
    assert r.entry()["status"]["gate"] == "parity_evidence"  # no evidence: holds
    r.parity.figures[ROUTE] = ParityFigures(compared=50, match_ratio=0.5)
    r.run()
    assert r.entry()["target"] == "legacy"


def test_a_second_controller_does_not_write(tmp_path: Path) -> None:
    r = rig(tmp_path)
    assert r.lock.acquire()
    other = FileLock(tmp_path / "lock", holder="other:1")
    second = Controller(r.store, other, r.source, clock=r.clock)
    before = r.path.read_bytes()
    assert second.run_once().result == "not_leader"
    assert r.path.read_bytes() == before
    assert other.current_holder() == r.lock.holder


def test_a_follower_says_so_once_not_on_every_pass(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    r = rig(tmp_path)
    assert r.lock.acquire()
    follower = Controller(r.store, FileLock(tmp_path / "lock", holder="other:1"), r.source)
    caplog.set_level("INFO", logger="gateway.rollout")
    for _ in range(5):
        assert follower.run_once().result == "not_leader"
    # A second `gateway serve` with GATEWAY_ROLLOUT=true passes every few seconds for as long
    # as it runs: one line when it starts following, not one per pass.
    assert caplog.text.count("not_leader") == 1
    r.lock.release()
    assert follower.run_once().result == "written"  # it leads now
    follower.lock.release()
    assert r.lock.acquire()
    assert follower.run_once().result == "not_leader"
    assert caplog.text.count("not_leader") == 2  # following again is news again


class DownSource(FakeSource):
    def totals(self) -> Totals:
        raise FiguresError("could not read http://127.0.0.1:9/metrics: connection refused")


def test_a_source_that_stays_down_is_reported_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    r = rig(tmp_path)
    r.controller.source = DownSource()
    caplog.set_level("INFO", logger="gateway.rollout")
    for _ in range(4):
        r.run()
    assert r.entry()["status"]["gate"] == "figures"
    assert caplog.text.count("connection refused") == 1
    r.controller.source = r.source
    r.run()
    r.controller.source = DownSource()
    r.run()
    assert caplog.text.count("connection refused") == 2  # down again after it came back


def test_comments_and_layout_survive_every_edit(tmp_path: Path) -> None:
    r = rig(tmp_path)
    r.run()
    r.healthy_step()
    r.source.trip(ROUTE)
    r.run()
    text = r.path.read_text()
    assert text.startswith("# The ticket list moves in steps.\n")
    assert "\n  # Users stay on legacy.\n  - path: /api/users\n" in text
    assert "      steps: [5, 50, 100]\n" in text


def test_weights_are_written_as_the_steps_are(tmp_path: Path) -> None:
    r = rig(tmp_path, "\n      approve: [100]")
    r.run()
    assert "    weight: 5\n" in r.path.read_text()  # as in `steps: [5, 50, 100]`, not 5.0
    r.healthy_step()
    r.healthy_step()  # waits for approval at 50
    assert "    weight: 50\n" in r.path.read_text()
    assert "approved" not in r.entry()["status"]
    actions.apply(r.store, ROUTE, "GET", "approve")
    assert "approved: [100]\n" in r.path.read_text()


def test_a_file_with_windows_line_ends_keeps_them(tmp_path: Path) -> None:
    r = Rig(tmp_path, CANARY.format(extra="").replace("\n", "\r\n"))
    r.run()
    r.healthy_step()
    written = r.path.read_bytes()
    assert written.count(b"\n") == written.count(b"\r\n")  # not one line changed its ending
    assert b"    weight: 50\r\n" in written


@pytest.mark.parametrize("start", ["---\n", "\ufeff", "\ufeff---\n"], ids=["dashes", "bom", "both"])
def test_what_comes_before_the_document_stays(tmp_path: Path, start: str) -> None:
    r = Rig(tmp_path, start + CANARY.format(extra=""))
    r.run()
    assert r.path.read_text(encoding="utf-8").startswith(start + "# The ticket list moves")
    assert r.entry()["weight"] == 5


def test_the_step_gauge_shows_one_state_per_rollout(tmp_path: Path) -> None:
    r = rig(tmp_path)
    registry = CollectorRegistry()
    r.controller.metrics = RolloutMetrics(registry)
    labels = {"route": ROUTE, "methods": "GET"}
    r.run()
    r.healthy_step()  # stepping at 50%: judged with every figure
    assert registry.get_sample_value("gateway_rollout_step", {**labels, "state": "stepping"}) == 2
    figure = {**labels, "figure": "latency_ratio"}
    assert registry.get_sample_value("gateway_rollout_figure", figure) is not None
    r.source.serve(ROUTE, "new", 200, errors=200)
    r.source.serve(ROUTE, "legacy", 0)
    r.run()  # aborted; legacy had no traffic at this step, so no latency ratio
    states = {
        sample.labels["state"]: sample.value
        for metric in registry.collect()
        if metric.name == "gateway_rollout_step"
        for sample in metric.samples
    }
    assert states == {"aborted": 2}  # not also "stepping", as if it were in two states
    assert registry.get_sample_value("gateway_rollout_figure", figure) is None
