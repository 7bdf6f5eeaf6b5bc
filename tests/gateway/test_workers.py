"""`gateway serve --workers N`: gunicorn's arbiter supervising uvicorn workers."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import httpx

from tests.gateway.test_server import metric, wait_for
from tests.servers import ServerProcess, run_gateway

ROUTES = """\
default: legacy
routes:
  - path: /hold
    target: new
"""


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
        assert metric(server, "gateway_requests_in_progress", **running) == 12
        os.kill(victim, signal.SIGKILL)

        # The arbiter replaces it, and the gauge forgets the requests the dead worker held.
        wait_for(lambda: len(_workers(server)) == 2 and victim not in _workers(server), 30)
        for client in clients:
            client.join(timeout=30)
        wait_for(lambda: metric(server, "gateway_requests_in_progress", **running) == 0, 30)
        for _ in range(5):  # each scrape may land on either worker: all must say 0
            assert metric(server, "gateway_requests_in_progress", **running) == 0
        assert httpx.get(server.base_url + "/hold?seconds=0", timeout=10).status_code == 200
