"""A fork waits for the controller's pass in progress, so a child never inherits a lock the
pass held (gunicorn's arbiter forks workers while its controller thread runs)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from gateway.rollout.controller import Controller
from gateway.rollout.file_store import FileStore
from gateway.rollout.fork_gate import ForkGate
from tests.gateway.rollout.fakes import FakeSource

# Set when a fork of this process starts. Registered after the gate's hook, so it runs before
# it (os.register_at_fork runs `before` hooks last registered first): the fork has begun and
# is waiting at the gate. Once for the module: hooks cannot be removed.
FORK_STARTED = threading.Event()
os.register_at_fork(before=FORK_STARTED.set)


def fork_and_take(lock: threading.Lock) -> int:
    """Fork; the child's exit code says whether it could take `lock` (0) or not (1)."""
    pid = os.fork()
    if pid == 0:
        os._exit(0 if lock.acquire(timeout=5) else 1)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def test_a_fork_during_a_pass_waits_for_its_end() -> None:
    gate = ForkGate()
    library_lock = threading.Lock()  # held inside the pass, as pydantic-core's one-time setup
    in_pass, end_pass = threading.Event(), threading.Event()

    def a_pass() -> None:
        with gate, library_lock:
            in_pass.set()
            end_pass.wait(30)

    passing = threading.Thread(target=a_pass)
    passing.start()
    assert in_pass.wait(30)
    FORK_STARTED.clear()
    exit_codes: list[int] = []
    forking = threading.Thread(target=lambda: exit_codes.append(fork_and_take(library_lock)))
    forking.start()
    assert FORK_STARTED.wait(30)
    end_pass.set()
    forking.join(30)
    passing.join(30)
    assert exit_codes == [0]


def test_a_fork_between_passes_does_not_wait() -> None:
    gate = ForkGate()
    with gate:
        pass
    assert fork_and_take(threading.Lock()) == 0
    with gate:  # open again in this process after the fork
        pass


class RecordingGate:
    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.inside = False

    def __enter__(self) -> None:
        self.inside = True

    def __exit__(self, *exc_info: object) -> None:
        self.inside = False
        self.stop.set()  # one pass is enough


class WitnessLock:
    """The leader lock, the first thing a pass takes: it notes whether the gate was held."""

    holder = "test"

    def __init__(self, gate: RecordingGate) -> None:
        self.gate = gate
        self.seen: list[bool] = []

    def acquire(self) -> bool:
        self.seen.append(self.gate.inside)
        return False  # a follower: the pass ends there

    def release(self) -> None:
        pass


def test_the_controller_runs_each_pass_inside_its_gate(tmp_path: Path) -> None:
    stop = threading.Event()
    gate = RecordingGate(stop)
    lock = WitnessLock(gate)
    controller = Controller(FileStore(tmp_path / "routes.yaml"), lock, FakeSource())
    controller.run(stop, every=0.01, gate=gate)
    assert lock.seen == [True]
