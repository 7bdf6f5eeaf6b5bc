"""`rollout:` and `status:` in the routes file: validation, and a status that is not part of the
entry's identity (writing it keeps the guard's rollback)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from gateway.behaviours.guard import Guard
from gateway.config.routes_file import RoutesFileError, parse_routes
from gateway.control.reloading import LiveRouteTable
from gateway.control.route_state import RouteStates
from gateway.observe.metrics import GatewayMetrics, name_of
from gateway.rollout import figures
from gateway.rollout.file_lock import FileLock, lock_path
from gateway.rollout.file_store import FileStore
from gateway.rollout.store import StoreConflict

ENTRY = """\
routes:
  - path: /a
    methods: [GET]
    target: canary
    weight: 5
    guard: {{min_requests: 1, max_error_ratio: 0.1}}
    rollout: {{steps: [5, 100]}}
{status}"""
STATUS = """\
    status:
      state: stepping
      step: 1
      since: '2026-01-01T10:00:00Z'
      decision: {decision}
      reason: {reason}
"""


def table(status: str = "") -> bytes:
    return ENTRY.format(status=status).encode()


def test_a_status_edit_keeps_the_guards_rollback() -> None:
    states = RouteStates(GatewayMetrics(CollectorRegistry()))
    first = parse_routes(table(STATUS.format(decision="start", reason="go")), "t")
    states.sync(first)
    state = states.get(first.entries[0])
    assert state is not None and state.get(Guard) is not None
    second = parse_routes(table(STATUS.format(decision="hold", reason="low traffic")), "t")
    states.sync(second)
    assert states.get(second.entries[0]) is state
    third = parse_routes(table().replace(b"weight: 5", b"weight: 6"), "t")
    states.sync(third)
    assert states.get(third.entries[0]) is not state  # an edit of the entry itself resets


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param(
            "routes:\n  - path: /a\n    target: new\n    rollout: {steps: [5]}\n",
            "rollout cannot be used with target 'new'",
            id="rollout-on-new",
        ),
        pytest.param(
            "routes:\n  - path: /a\n    target: canary\n    weight: 0\n"
            "    rollout: {steps: [50, 25]}\n",
            "steps must rise",
            id="falling-steps",
        ),
        pytest.param(
            "routes:\n  - path: /a\n    target: canary\n    weight: 0\n"
            "    rollout: {steps: [5, 50], approve: [40]}\n",
            "approve names weights that are not steps",
            id="approve-unknown-step",
        ),
        pytest.param(
            "routes:\n  - path: /a\n    target: shadow\n    rollout: {steps: [5]}\n",
            "needs rollout.min_match_ratio",
            id="shadow-without-parity-gate",
        ),
        pytest.param(
            "routes:\n  - path: /a\n    target: legacy\n    status: {state: done, since: "
            "'2026-01-01T10:00:00', decision: finish, reason: x}\n",
            "times must name their zone",
            id="naive-time",
        ),
    ],
)
def test_bad_rollouts_are_refused_with_their_line(text: str, problem: str) -> None:
    with pytest.raises(RoutesFileError, match=problem) as caught:
        parse_routes(text.encode(), "routes.yaml")
    assert "routes[0] (line 2)" in str(caught.value)


def test_the_store_refuses_a_write_over_an_edit(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text("routes: []\n")
    path.chmod(0o640)
    store = FileStore(path)
    snapshot = store.read()
    path.write_text("routes: []  # edited by hand\n")
    with pytest.raises(StoreConflict):
        store.write("default: new\n", snapshot)
    assert path.read_text() == "routes: []  # edited by hand\n"
    written = store.write("default: new\n", store.read())
    assert path.read_text() == "default: new\n" and written.text == "default: new\n"
    assert path.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == [
        "routes.yaml"
    ]


def test_an_edit_saved_while_the_write_is_flushed_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text("routes: []\n")
    store = FileStore(path)
    snapshot = store.read()
    flush = os.fsync

    def slow_flush_meanwhile_a_save(fd: int) -> None:
        # The controller's new text reaches the disk (slow on a loaded machine) while an
        # operator's editor saves the file.
        flush(fd)
        path.write_text("routes: []  # saved by hand\n")

    monkeypatch.setattr("gateway.rollout.file_store.os.fsync", slow_flush_meanwhile_a_save)
    with pytest.raises(StoreConflict):
        store.write("default: new\n", snapshot)
    assert path.read_text() == "routes: []  # saved by hand\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".routes.yaml.")] == [
        ".routes.yaml.write-lock"
    ]  # no temporary file left behind


def test_a_symlinked_routes_file_stays_a_link(tmp_path: Path) -> None:
    # The file kept elsewhere (a checkout of the config repository), linked where the gateway
    # reads it: a write replaces the file the link names, not the link.
    (tmp_path / "repo").mkdir()
    real = tmp_path / "repo" / "routes.yaml"
    real.write_text("routes: []\n")
    link = tmp_path / "routes.yaml"
    link.symlink_to(real)
    store = FileStore(link)
    store.write("default: new\n", store.read())
    assert link.is_symlink() and link.resolve() == real
    assert real.read_text() == "default: new\n"


def test_one_lock_holder_at_a_time(tmp_path: Path) -> None:
    path = lock_path(tmp_path / "routes.yaml")
    first, second = FileLock(path, holder="a:1"), FileLock(path, holder="b:2")
    try:
        assert first.acquire() and first.acquire()  # renewing is holding
        assert not second.acquire()
        assert second.current_holder() == "a:1"
        first.release()
        assert second.acquire()
        assert first.current_holder() == "b:2"
    finally:
        first.release()
        second.release()
    assert path.parent == tmp_path  # beside the file: every controller of it finds one lock


def test_a_lock_file_removed_under_its_holder_is_not_held_twice(tmp_path: Path) -> None:
    # A folder cleaned or synced from elsewhere: the holder's lock is on a file that is gone,
    # and a second controller locks the new one. Only one of them may go on deciding.
    path = lock_path(tmp_path / "routes.yaml")
    first, second = FileLock(path, holder="a:1"), FileLock(path, holder="b:2")
    try:
        assert first.acquire()
        path.unlink()
        assert second.acquire()
        assert not first.acquire()
        assert second.acquire() and second.current_holder() == "b:2"
    finally:
        first.release()
        second.release()


HOLDER_THAT_FORKS = """
import os, sys, time
from pathlib import Path
from gateway.rollout.file_lock import FileLock
lock = FileLock(Path(sys.argv[1]), holder="arbiter:1")
assert lock.acquire()
child = os.fork()  # as gunicorn's arbiter forks its workers while its controller holds the lock
if child == 0:
    time.sleep(60)
    os._exit(0)
print(child, flush=True)
time.sleep(60)
"""


def test_a_killed_holder_frees_the_lock_though_its_forked_children_live(tmp_path: Path) -> None:
    path = lock_path(tmp_path / "routes.yaml")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER_THAT_FORKS, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None
    child = int(holder.stdout.readline())
    successor = FileLock(path, holder="successor:2")
    try:
        assert not successor.acquire()
        holder.kill()  # SIGKILL, or the OOM killer: no release, no clean-up
        holder.wait(10)
        holder.stdout.close()
        deadline = time.monotonic() + 30
        while not successor.acquire():
            assert time.monotonic() < deadline, "the lock stayed held by the forked child"
            time.sleep(0.05)
    finally:
        successor.release()
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)


def test_the_figures_read_the_families_the_gateway_declares() -> None:
    metrics = GatewayMetrics(CollectorRegistry())
    assert figures.REQUESTS == name_of(metrics.requests) + "_total"
    assert figures.DURATION_BUCKETS == name_of(metrics.duration) + "_bucket"
    assert figures.ROLLBACKS == name_of(metrics.rollbacks) + "_total"
    labels = {
        metric: set(m._labelnames)
        for metric, m in [("r", metrics.requests), ("d", metrics.duration)]
    }
    assert labels == {"r": {"route", "side", "method", "status"}, "d": {"route", "side", "method"}}


def test_a_writer_stuck_holding_the_write_lock_is_not_waited_on_for_ever(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text("routes: []\n")
    store = FileStore(path, lock_timeout=0.2)
    with (tmp_path / ".routes.yaml.write-lock").open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(StoreConflict, match="stayed locked"):
            store.write("default: new\n", store.read())
    assert path.read_text() == "routes: []\n"


async def _watch_until(live: LiveRouteTable, weight: float, timeout: float) -> float | None:
    watching = asyncio.create_task(live.watch())
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            options = live.table.entries[0].options
            if getattr(options, "weight", None) == weight:
                return weight
            await asyncio.sleep(0.05)
        return None
    finally:
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching


def test_a_decision_written_before_the_watcher_started_is_applied(tmp_path: Path) -> None:
    # A worker that boots while the controller writes: loaded before the write, watching after.
    path = tmp_path / "routes.yaml"
    path.write_bytes(table())
    live = LiveRouteTable(
        path,
        lambda content, source: parse_routes(content, source),
        GatewayMetrics(CollectorRegistry()),
    )
    store = FileStore(path)
    store.write(store.read().text.replace("weight: 5", "weight: 100"), store.read())
    assert asyncio.run(_watch_until(live, 100, timeout=30)) == 100
