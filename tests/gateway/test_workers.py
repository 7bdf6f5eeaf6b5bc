"""`gateway serve --workers N`: gunicorn's arbiter supervising uvicorn workers."""

from __future__ import annotations

import os
import signal
import threading
from functools import partial
from pathlib import Path

import httpx

from tests.gateway.test_server import metric
from tests.servers import (
    SAMPLE_LEGACY,
    SAMPLE_NEW,
    ServerProcess,
    bin_path,
    free_port,
    run_gateway,
    run_server,
)
from tests.waiting import wait_for

ROUTES = """\
default: legacy
routes:
  - path: /hold
    target: new
"""


def _has_workers(server: ServerProcess, count: int) -> bool:
    return len(_workers(server)) == count


def _workers(server: ServerProcess) -> set[int]:
    pid = server.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return {int(child) for child in children}


def test_a_killed_worker_is_replaced_and_its_live_gauges_removed(tmp_path: Path) -> None:
    routes_file = tmp_path / "routes.yaml"
    routes_file.write_text(ROUTES, encoding="utf-8")
    with run_gateway(routes_file, workers=2) as server:
        wait_for(lambda: len(_workers(server)) == 2, timeout=30)
        holders: dict[int, int] = {}  # worker pid -> requests it holds
        lock = threading.Lock()

        def hold() -> None:
            try:
                with httpx.stream("GET", server.base_url + "/hold?seconds=4", timeout=30) as r:
                    lines = r.iter_lines()
                    pid = int(next(lines))
                    with lock:
                        holders[pid] = holders.get(pid, 0) + 1
                    for _ in lines:
                        pass
            except httpx.HTTPError:
                pass  # the requests of the killed worker end with it

        clients = [threading.Thread(target=hold) for _ in range(12)]
        for client in clients:
            client.start()
        wait_for(lambda: sum(holders.values()) == 12, timeout=30)
        victim = max(holders, key=lambda pid: holders[pid])
        running = {"side": "new"}
        # Each worker folds its count into the shared files within a second.
        wait_for(lambda: metric(server, "gateway_requests_in_progress", **running) == 12, 30)
        os.kill(victim, signal.SIGKILL)

        # The arbiter replaces it, and the gauge forgets the requests the dead worker held.
        wait_for(lambda: len(_workers(server)) == 2 and victim not in _workers(server), 30)
        for client in clients:
            client.join(timeout=30)
        wait_for(lambda: metric(server, "gateway_requests_in_progress", **running) == 0, 30)
        for _ in range(5):  # each scrape may land on either worker: all must say 0
            assert metric(server, "gateway_requests_in_progress", **running) == 0
        assert httpx.get(server.base_url + "/hold?seconds=0", timeout=10).status_code == 200


def test_gateways_side_by_side_leave_no_control_socket(tmp_path: Path) -> None:
    """gunicorn's own control socket is one path per user: the gateway turns it off, so two
    gateways on a host cannot take it from each other and the admin API stays the one way in."""
    routes_file = tmp_path / "routes.yaml"
    routes_file.write_text(ROUTES, encoding="utf-8")
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    env = {"HOME": str(tmp_path), "XDG_RUNTIME_DIR": str(runtime)}
    with (
        run_gateway(routes_file, workers=2, env=env) as first,
        run_gateway(routes_file, workers=2, env=env) as second,
    ):
        for server in (first, second):
            wait_for(partial(_has_workers, server, 2), timeout=30)
            assert httpx.get(server.base_url + "/hold?seconds=0", timeout=10).status_code == 200
        assert list(runtime.iterdir()) == []
        assert not (tmp_path / ".gunicorn").exists()
    for server in (first, second):
        assert "control socket" not in server.log().lower()


def test_workers_stop_when_their_arbiter_is_killed(tmp_path: Path) -> None:
    routes_file = tmp_path / "routes.yaml"
    routes_file.write_text(ROUTES, encoding="utf-8")
    with run_gateway(routes_file, workers=2) as server:
        wait_for(partial(_has_workers, server, 2), timeout=30)
        workers = _workers(server)
        try:
            server.process.kill()  # SIGKILL: the arbiter cannot pass anything on
            server.process.wait(10)
            # Each worker sees its parent change and stops by itself, gracefully.
            wait_for(lambda: not any(_alive(pid) for pid in workers), timeout=30)
        finally:
            for pid in workers:  # whatever is left must not outlive the test
                if _alive(pid):
                    os.kill(pid, signal.SIGKILL)
    assert "the arbiter" in server.log() and "is gone" in server.log()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has stopped; only its parent's wait is missing


def test_the_workers_serve_under_the_root_path(tmp_path: Path) -> None:
    # The workers take --root-path from the arbiter's application, not from a class made per
    # call (gunicorn before 21 took an import string only).
    routes_file = tmp_path / "routes.yaml"
    routes_file.write_text('routes:\n  - {path: "/api/items/{item_id}", target: new}\n')
    port = free_port()
    argv = [
        bin_path("gateway"),
        "serve",
        "--port",
        str(port),
        "--workers",
        "2",
        "--root-path",
        "/prefix",
        "--routes-file",
        str(routes_file),
        "--legacy-app",
        SAMPLE_LEGACY,
        "--new-app",
        SAMPLE_NEW,
    ]
    with run_server(argv, port=port, health_path="/metrics") as server:
        wait_for(lambda: _has_workers(server, 2), timeout=30)
        for _ in range(4):  # a new connection each: any worker may answer
            answer = httpx.get(server.base_url + "/api/items/3", timeout=10).json()
            assert answer["path"] == "/prefix/api/items/3", answer
            assert answer["pid"] in _workers(server)


def test_workers_recycled_after_max_requests_are_replaced_and_serve_on(tmp_path: Path) -> None:
    """A worker ends by SystemExit inside the arbiter's own blocks (it was forked there): its
    exit must leave the metrics folder every worker writes to, or no replacement can start."""
    routes_file = tmp_path / "routes.yaml"
    routes_file.write_text(ROUTES, encoding="utf-8")
    with run_gateway(routes_file, workers=2, env={"GATEWAY_MAX_REQUESTS": "10"}) as server:
        wait_for(lambda: _has_workers(server, 2), timeout=30)
        first = _workers(server)
        served = 0
        while _workers(server) & first:  # recycled after about 10 requests each
            with server.client() as client:
                assert client.get("/hold?seconds=0").status_code == 200
            served += 1
            assert served < 500, "no worker was recycled"
        wait_for(lambda: _has_workers(server, 2), timeout=30)
        with server.client() as client:
            assert client.get("/hold?seconds=0").status_code == 200
            assert client.get("/metrics").status_code == 200
    assert "Worker failed to boot" not in server.log()
