"""The controller's notifications, posted to a webhook receiver the test starts: one per
step, the wait for approval (with how to approve), a person's approve, pause and resume, the
abort and the fleet's guard rollbacks, each with its reason and figures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.observe.notify import Notifier
from gateway.rollout import actions
from gateway.rollout.controller import Controller
from gateway.rollout.file_lock import FileLock
from gateway.rollout.file_store import FileStore
from tests.gateway.rollout.fakes import FakeClock, FakeParity, FakeSource
from tests.waiting import wait_for
from tests.webhook_receiver import Hooks, webhook_receiver

ROUTE = "/api/tickets"
ROUTES = """\
routes:
  - path: /api/tickets
    methods: [GET]
    target: canary
    weight: 0
    guard: {{min_requests: 20}}
    rollout:
      steps: [5, 50, 100]
      interval: 60
      min_requests: 100
      max_error_ratio: 0.01{extra}
  - path: /api/users
    target: new
    guard: {{min_requests: 20}}
"""


class Rig:
    def __init__(self, tmp_path: Path, url: str, extra: str = "") -> None:
        path = tmp_path / "routes.yaml"
        path.write_text(ROUTES.format(extra=extra), encoding="utf-8")
        self.store = FileStore(path)
        self.clock = FakeClock()
        self.source = FakeSource()
        self.lock = FileLock(tmp_path / "lock")
        self.notifier = Notifier([url], first_pause=0.01)
        self.controller = Controller(
            self.store,
            self.lock,
            self.source,
            FakeParity(),
            clock=self.clock,
            notifier=self.notifier,
        )
        _RIGS.append(self)

    def run(self) -> None:
        self.controller.run_once()

    def traffic(self, errors: int = 0) -> None:
        self.source.serve(ROUTE, "new", 200, errors=errors)
        self.source.serve(ROUTE, "legacy", 200)

    def told(self, hooks: Hooks, count: int) -> list[str]:
        wait_for(lambda: len(hooks.bodies) >= count, what=f"{count} notifications")
        wait_for(self.notifier.idle, what="nothing more in flight")
        return hooks.events()


_RIGS: list[Rig] = []


@pytest.fixture(autouse=True)
def _release_locks() -> Iterator[None]:
    yield
    while _RIGS:
        rig = _RIGS.pop()
        rig.lock.release()
        rig.notifier.close()


@pytest.fixture
def hooks() -> Iterator[tuple[str, Hooks]]:
    with webhook_receiver() as receiver:
        yield receiver


def test_each_step_wait_action_abort_and_rollback_is_told_once_with_its_reason(
    tmp_path: Path, hooks: tuple[str, Hooks]
) -> None:
    url, received = hooks
    r = Rig(tmp_path, url, "\n      approve: [50]")
    r.run()  # starts at 5%
    r.traffic()
    r.clock.advance(61)
    r.run()  # gates passed: 50% waits for a person
    r.clock.advance(600)
    r.traffic()
    r.run()  # still waiting: nothing new to tell
    assert r.told(received, 2) == ["rollout_started", "awaiting_approval"]

    actions.apply(r.store, ROUTE, "GET", "approve", "looks fine", by="alice")
    r.traffic()
    r.run()  # approved, and the step taken
    actions.apply(r.store, ROUTE, "GET", "pause", "a deploy", by="bob")
    r.run()
    r.run()  # still paused: nothing new to tell
    actions.apply(r.store, ROUTE, "GET", "resume", "deployed", by="bob")
    r.run()
    r.source.trip("/api/users")  # a gateway's guard rolled another route back
    r.traffic(errors=50)
    r.clock.advance(61)
    r.run()  # the ticket list fails its error gate
    events = r.told(received, 8)
    assert events == [
        "rollout_started",
        "awaiting_approval",
        "approved",
        "rollout_step",
        "paused",
        "resumed",
        "guard_rollback",
        "aborted",
    ]
    r.run()
    r.notifier.close()
    assert received.events() == events  # an aborted rollout says nothing more

    started, waiting, approved, step, paused, resumed, rollback, aborted = received.bodies
    assert started["reason"] == "rollout started: weight 5%" and started["weight"] == 5
    assert waiting["reason"] == "step 50% waits for approval"
    assert waiting["gate"] == "approval" and waiting["next_weight"] == 50
    assert waiting["approve_command"] == "gateway rollout approve /api/tickets --method GET"
    assert waiting["approve_api"].startswith("POST /_gateway/api/rollout/approve")
    assert '{"route": "/api/tickets", "method": "GET"}' in waiting["approve_api"]
    assert approved["by"] == "alice" and approved["reason"] == "approve by alice: looks fine"
    assert step["reason"] == "gates passed: weight 50%" and step["weight"] == 50
    assert step["figures"]["new_requests"] == 600 and step["figures"]["error_ratio"] == 0
    assert paused["reason"] == "pause by bob: a deploy"
    assert resumed["reason"] == "resume by bob: deployed"
    assert rollback["route"] == "/api/users" and rollback["gate"] == "guard"
    assert rollback["reason"] == (
        "the guard rolled back /api/users to legacy in 1 gateway process(es) (error_ratio x1)"
    )
    assert rollback["figures"]["trips"] == 1
    assert aborted["gate"] == "error_ratio"
    assert aborted["reason"] == "new-side error ratio 0.25 > 0.01 (50 5xx in 200 answers)"
    assert aborted["figures"]["error_ratio"] == 0.25


def test_a_finished_rollout_is_told_as_promoted(tmp_path: Path, hooks: tuple[str, Hooks]) -> None:
    url, received = hooks
    r = Rig(tmp_path, url)
    r.run()
    for _ in range(3):
        r.traffic()
        r.clock.advance(61)
        r.run()
    assert r.told(received, 4) == ["rollout_started", "rollout_step", "rollout_step", "promoted"]
    assert received.bodies[-1]["reason"] == "every step passed: the route is served by new"


def test_a_controller_set_not_to_tell_rollbacks_leaves_them_to_the_gateways(
    tmp_path: Path, hooks: tuple[str, Hooks]
) -> None:
    url, received = hooks
    r = Rig(tmp_path, url)
    r.controller.notify_rollbacks = False
    r.run()
    r.source.trip("/api/users")
    r.run()
    r.told(received, 1)
    assert received.events() == ["rollout_started"]
