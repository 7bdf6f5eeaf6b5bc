"""`gateway rollout ...` and `gateway routes`' rollout lines, run as a user runs them."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from gateway.config.routes_yaml import load_yaml
from tests.servers import bin_path, free_port, run_gateway

LEGACY = "tests.gateway.rollout.rollout_apps:legacy_app"
NEW = "tests.gateway.rollout.rollout_apps:new_app"
ROUTES = """\
routes:
  - path: /r/healthy
    methods: [GET]
    target: canary
    weight: 0
    rollout: {steps: [50, 100], interval: 1, min_requests: 3}
"""


def rollout(routes_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [bin_path("gateway"), "rollout", *args, "--routes-file", str(routes_file)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


@pytest.fixture
def routes_file(tmp_path: Path) -> Path:
    path = tmp_path / "routes.yaml"
    path.write_text(ROUTES, encoding="utf-8")
    return path


def test_one_pass_from_the_gateways_metrics(routes_file: Path) -> None:
    with run_gateway(routes_file, legacy_app=LEGACY, new_app=NEW) as gateway:
        url = f"{gateway.base_url}/metrics"
        first = rollout(routes_file, "run", "--once", "--metrics", url)
        assert first.returncode == 0, first.stderr
        assert "GET /r/healthy: start: rollout started: weight 50%" in first.stdout
        assert "pass: written" in first.stdout
        with gateway.client() as client:
            for _ in range(20):
                client.get("/r/healthy")
        # A new controller knows the gateways' counters from now on only: it says so, rather
        # than calling 20 requests low traffic.
        held = rollout(routes_file, "run", "--once", "--metrics", url)
        assert "hold: the step's figures count from now" in held.stdout
        assert "low traffic" not in held.stdout
        status = rollout(routes_file, "status")
        assert (
            "GET /r/healthy: target canary 50%, steps 50/100, stepping at step 1" in status.stdout
        )
        routes = subprocess.run(
            [
                bin_path("gateway"),
                "routes",
                "--routes-file",
                str(routes_file),
                "--legacy-app",
                LEGACY,
                "--new-app",
                NEW,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "GET /r/healthy (canary): stepping, step 1" in routes.stdout


def test_unreadable_metrics_hold_and_say_so(routes_file: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/metrics"
    rollout(routes_file, "run", "--once", "--metrics", url)
    done = rollout(routes_file, "run", "--once", "--metrics", url)
    assert "hold: no figures from the metrics source" in done.stdout
    assert "could not read" in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(("run", "--once"), "give --prometheus URL", id="no-source"),
        pytest.param(
            ("run", "--once", "--prometheus", "http://x", "--metrics", "http://y"),
            "not both",
            id="two-sources",
        ),
        pytest.param(
            ("run", "--once", "--metrics", "http://127.0.0.1:abc/metrics"),
            "--metrics 'http://127.0.0.1:abc/metrics': the port is not a number",
            id="metrics-port",
        ),
        pytest.param(
            ("run", "--once", "--metrics", "127.0.0.1:8000/metrics"),
            "--metrics '127.0.0.1:8000/metrics': give an http:// or https:// URL",
            id="metrics-scheme",
        ),
        pytest.param(
            ("run", "--once", "--prometheus", "http:///"),
            "--prometheus 'http:///': give an http:// or https:// URL",
            id="prometheus-host",
        ),
        pytest.param(("pause", "/nope"), "no entry for /nope", id="unknown-route"),
        pytest.param(("approve", "/r/healthy"), "has not started", id="not-started"),
        pytest.param(
            ("run", "--once", "--metrics", "http://y", "--configmap", "ns/name"),
            "--configmap: 'ns/name' should be NAMESPACE/CONFIGMAP/KEY",
            id="configmap-spec",
        ),
        pytest.param(
            ("run", "--once", "--metrics", "http://y", "--lease", "ns/a/b"),
            "--lease: 'ns/a/b' should be NAMESPACE/LEASE",
            id="lease-spec",
        ),
        pytest.param(
            ("abort", "/r/healthy", "--configmap", "x"),
            "--configmap: 'x' should be",
            id="action-configmap-spec",
        ),
        pytest.param(
            ("status", "--configmap", "x"),
            "--configmap: 'x' should be",
            id="status-configmap-spec",
        ),
    ],
)
def test_mistakes_get_a_clear_error(routes_file: Path, args: tuple[str, ...], message: str) -> None:
    before = routes_file.read_bytes()
    done = rollout(routes_file, *args)
    assert done.returncode == 1
    assert message in done.stderr
    assert routes_file.read_bytes() == before


def test_abort_and_resume_by_hand(routes_file: Path) -> None:
    done = rollout(routes_file, "abort", "/r/healthy", "--method", "get", "--reason", "bad")
    assert done.returncode == 0, done.stderr
    entry = load_yaml(routes_file.read_text()).data["routes"][0]
    assert entry["target"] == "legacy" and entry["status"]["state"] == "aborted"
    assert rollout(routes_file, "status").stdout.count("aborted at step 0") == 1
    assert rollout(routes_file, "resume", "/r/healthy").returncode == 0
    assert rollout(routes_file, "pause", "/r/healthy").returncode == 0
    entry = load_yaml(routes_file.read_text()).data["routes"][0]
    assert (entry["target"], entry["weight"], entry["status"]["paused"]) == ("canary", 50, True)
    assert "(paused)" in rollout(routes_file, "status", "/r/healthy", "--method", "GET").stdout
    assert "no entry for /r/other" in rollout(routes_file, "status", "/r/other").stderr


def test_status_without_rollouts(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text("routes: []\n")
    assert rollout(path, "status").stdout.strip() == "no entry has a rollout"
    path.write_text("routes: [\n")
    assert rollout(path, "status").returncode == 1


def test_a_metrics_port_in_use_is_a_clear_error(routes_file: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        args = ("run", "--metrics", "http://127.0.0.1:9/metrics", "--metrics-port", str(port))
        done = rollout(routes_file, *args)
    assert done.returncode == 1
    assert f"error: --metrics-port {port}:" in done.stderr
    assert "Traceback" not in done.stderr
