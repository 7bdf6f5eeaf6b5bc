"""End to end: three `gateway serve` processes (standing in for replicas) follow one routes
file; a real Prometheus scrapes them every second; `gateway rollout run --prometheus` decides
from what Prometheus sums over the three and writes into the file, which every gateway reloads.

The routes share the gateways, each showing one behaviour: a healthy route steps to `new`, a
failing one is aborted, one waits for approval, one has too little traffic, and one is aborted
because a gateway's own guard tripped. Traffic flows to every route of every gateway in the
background for the whole module.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.config.routes_yaml import load_yaml
from tests.servers import ServerProcess, bin_path, free_port, run_gateway, run_server
from tests.waiting import wait_for

LEGACY = "tests.gateway.rollout.rollout_apps:legacy_app"
NEW = "tests.gateway.rollout.rollout_apps:new_app"
GATEWAYS = 3
NAMES = ("healthy", "failing", "approval", "quiet", "guarded")

ROUTES = """\
# Rollouts under test. This comment, and the ones below, must survive every edit.
default: legacy

routes:
  # Steps through every weight, then moves to new.
  - path: /r/healthy
    methods: [GET]
    target: canary
    weight: 0
    rollout: {steps: [25, 50, 100], interval: 1, min_requests: 10, max_error_ratio: 0.05}

  # Its new side answers 500: aborted at the first step.
  - path: /r/failing
    methods: [GET]
    target: canary
    weight: 0   # starts closed
    rollout:
      steps: [50, 100]
      interval: 1
      min_requests: 10
      max_error_ratio: 0.05

  # Enters 100% only once a person approves.
  - path: /r/approval
    methods: [GET]
    target: canary
    weight: 0
    rollout: {steps: [50, 100], interval: 1, min_requests: 10, approve: [100]}

  # Never enough requests to judge: holds.
  - path: /r/quiet
    methods: [GET]
    target: canary
    weight: 0
    rollout: {steps: [50, 100], interval: 1, min_requests: 1000000}

  # The rollout's own gates never judge it; a gateway's guard trips on its errors.
  - path: /r/guarded
    methods: [GET]
    target: canary
    weight: 0
    guard: {window: 10, min_requests: 5, max_error_ratio: 0.5}
    rollout: {steps: [50, 100], interval: 1, min_requests: 1000000}

# The end of the table.
"""
FLEET_WAIT = 90.0  # seconds: a controller pass, a reload and a scrape, on a loaded machine
COMMENTS = [line[line.index("#") + 1 :].strip() for line in ROUTES.splitlines() if "#" in line]


def require_prometheus() -> str:
    path = shutil.which("prometheus")
    if path is not None:
        return path
    message = "`prometheus` is not on PATH: install Debian's prometheus package"
    if os.environ.get("CI") == "true":
        pytest.fail(message + "; CI never skips this test", pytrace=False)
    pytest.skip(message)


class Traffic:
    """GET requests to every route of every gateway, round after round, until stopped."""

    def __init__(self, gateways: list[ServerProcess]) -> None:
        self.clients = [gateway.client(timeout=5.0) for gateway in gateways]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="traffic")

    def _run(self) -> None:
        while not self.stop.is_set():
            for client in self.clients:
                for name in NAMES:
                    try:
                        client.get(f"/r/{name}")
                    except httpx.TransportError:
                        pass  # a gateway reloading, or being stopped at the end
            self.stop.wait(0.01)

    @contextmanager
    def running(self) -> Iterator[None]:
        self.thread.start()
        try:
            yield
        finally:
            self.stop.set()
            self.thread.join(30)
            for client in self.clients:
                client.close()


@dataclass
class Fleet:
    routes_file: Path
    gateways: list[ServerProcess]
    prometheus_url: str
    tmp: Path
    controller: subprocess.Popen[bytes] | None = None
    started: int = 0

    def log_path(self) -> Path:
        return self.tmp / f"controller-{self.started}.log"

    def entry(self, name: str) -> dict[str, Any]:
        data = load_yaml(self.routes_file.read_text(encoding="utf-8")).data
        (found,) = [item for item in data["routes"] if item["path"] == f"/r/{name}"]
        return dict(found)

    def status(self, name: str) -> dict[str, Any]:
        return dict(self.entry(name).get("status") or {})

    def start_controller(self) -> None:
        self.started += 1
        log = self.log_path().open("ab")
        self.controller = subprocess.Popen(
            [*self.command("run"), "--prometheus", self.prometheus_url, "--every", "0.5"],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def command(self, *args: str) -> list[str]:
        return [bin_path("gateway"), "rollout", *args, "--routes-file", str(self.routes_file)]

    def stop_controller(self, sig: int = signal.SIGTERM) -> None:
        if self.controller is not None and self.controller.poll() is None:
            self.controller.send_signal(sig)
            self.controller.wait(15)
        self.controller = None


def prometheus_config(targets: list[str], folder: Path) -> Path:
    path = folder / "prometheus.yml"
    quoted = ", ".join(f"'{target}'" for target in targets)
    path.write_text(
        "global: {scrape_interval: 1s, scrape_timeout: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: gateway\n    static_configs: [{{targets: [{quoted}]}}]\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    prometheus = require_prometheus()
    tmp = tmp_path_factory.mktemp("rollout-fleet")
    routes_file = tmp / "config" / "routes.yaml"
    routes_file.parent.mkdir()
    routes_file.write_text(ROUTES, encoding="utf-8")
    env = {"GATEWAY_ACCESS_LOG": "false"}
    with ExitStack() as stack:
        gateways = [
            stack.enter_context(run_gateway(routes_file, legacy_app=LEGACY, new_app=NEW, env=env))
            for _ in range(GATEWAYS)
        ]
        port = free_port()
        targets = [f"127.0.0.1:{gateway.port}" for gateway in gateways]
        argv = [
            prometheus,
            f"--config.file={prometheus_config(targets, tmp)}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ]
        stack.enter_context(run_server(argv, port=port, health_path="/-/ready"))
        fleet = Fleet(routes_file, gateways, f"http://127.0.0.1:{port}", tmp)
        stack.enter_context(Traffic(gateways).running())
        stack.callback(fleet.stop_controller)
        fleet.start_controller()
        yield fleet


def sides(gateway: ServerProcess, name: str, count: int) -> set[str]:
    with gateway.client() as client:
        return {client.get(f"/r/{name}").headers["x-gateway-side"] for _ in range(count)}


def test_a_failing_route_is_aborted_and_every_process_serves_legacy(fleet: Fleet) -> None:
    wait_for(
        lambda: fleet.status("failing").get("state") == "aborted", FLEET_WAIT, "failing aborted"
    )
    aborted = time.monotonic()
    entry = fleet.entry("failing")
    assert entry["target"] == "legacy" and "weight" not in entry
    assert entry["status"]["gate"] == "error_ratio"
    assert "new-side error ratio 1 > 0.05" in entry["status"]["reason"]
    for gateway in fleet.gateways:
        wait_for(
            lambda g=gateway: sides(g, "failing", 20) == {"legacy"},  # type: ignore[misc]
            FLEET_WAIT,
            "legacy everywhere",
        )
    assert time.monotonic() - aborted < 10


def test_a_guard_trip_in_one_gateway_becomes_a_fleet_rollback(fleet: Fleet) -> None:
    wait_for(
        lambda: fleet.status("guarded").get("state") == "aborted", FLEET_WAIT, "guarded aborted"
    )
    status = fleet.status("guarded")
    assert status["gate"] == "guard"
    assert "the guard rolled back" in status["reason"]
    assert fleet.entry("guarded")["target"] == "legacy"


def test_a_healthy_route_steps_through_every_weight_to_new(fleet: Fleet) -> None:
    wait_for(lambda: fleet.status("healthy").get("step", 0) >= 2, FLEET_WAIT, "healthy at 50%")
    # A controller killed mid-rollout: the next one resumes from the file.
    fleet.stop_controller(signal.SIGKILL)
    step = fleet.status("healthy")["step"]
    fleet.start_controller()
    # A second controller (one pass) does not write while the first holds the lock.
    wait_for(
        lambda: (fleet.routes_file.parent / ".routes.yaml.rollout-lock").exists(),
        FLEET_WAIT,
        "lock",
    )
    wait_for(lambda: _holder_running(fleet), FLEET_WAIT, "the restarted controller holds the lock")
    second = subprocess.run(
        [*fleet.command("run", "--once"), "--prometheus", fleet.prometheus_url],
        capture_output=True,
        timeout=90,
    )
    assert second.returncode == 1 and b"not_leader" in second.stdout
    wait_for(lambda: fleet.entry("healthy")["target"] == "new", FLEET_WAIT, "healthy moved to new")
    # The restarted controller went on from the step in the file: it never started again.
    restarted = [
        json.loads(line)
        for line in fleet.log_path().read_text().splitlines()
        if line.startswith('{"event": "rollout"')
    ]
    healthy = [d["decision"] for d in restarted if d["route"] == "/r/healthy" and d["written"]]
    assert "start" not in healthy
    if step < 3:  # killed before its last step: the restarted one finished it
        assert healthy[-1:] == ["finish"]
    entry = fleet.entry("healthy")
    assert entry["status"]["state"] == "done" and entry["status"]["step"] == 3 >= step
    assert "weight" not in entry and "rollout" not in entry
    for gateway in fleet.gateways:
        wait_for(lambda g=gateway: sides(g, "healthy", 10) == {"new"}, FLEET_WAIT, "new everywhere")  # type: ignore[misc]


def _holder_running(fleet: Fleet) -> bool:
    assert fleet.controller is not None
    lock = fleet.routes_file.parent / ".routes.yaml.rollout-lock"
    return lock.read_text().strip().endswith(f":{fleet.controller.pid}")


def test_an_approval_step_waits_until_approved(fleet: Fleet) -> None:
    wait_for(
        lambda: fleet.status("approval").get("state") == "awaiting_approval",
        FLEET_WAIT,
        "awaiting approval",
    )
    assert fleet.entry("approval")["weight"] == 50
    approved = subprocess.run(
        [*fleet.command("approve", "/r/approval"), "--method", "GET", "--reason", "checked"],
        capture_output=True,
        timeout=90,
    )
    assert approved.returncode == 0, approved.stderr
    wait_for(
        lambda: fleet.entry("approval")["target"] == "new", FLEET_WAIT, "approval moved to new"
    )
    assert fleet.status("approval")["approved"] == [100]


def test_low_traffic_holds_and_says_so(fleet: Fleet) -> None:
    status = fleet.status("quiet")
    assert fleet.entry("quiet")["weight"] == 50
    assert (status["state"], status["decision"], status["gate"]) == (
        "stepping",
        "hold",
        "min_requests",
    )
    assert "low traffic" in status["reason"]


def test_the_files_comments_survive_every_edit(fleet: Fleet) -> None:
    text = fleet.routes_file.read_text(encoding="utf-8")
    missing = [comment for comment in COMMENTS if comment not in text]
    assert not missing
    assert text.rstrip().endswith("# The end of the table.")
