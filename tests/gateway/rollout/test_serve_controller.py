"""`GATEWAY_ROLLOUT=true gateway serve`: the controller runs inside the server, once per host
(in gunicorn's arbiter with --workers N), reading the host's own metrics."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from gateway.config.routes_yaml import load_yaml
from gateway.rollout.host import RolloutSetupError, check_writable
from gateway.settings import GatewaySettings
from tests.servers import ServerProcess, run_gateway

LEGACY = "tests.gateway.rollout.rollout_apps:legacy_app"
NEW = "tests.gateway.rollout.rollout_apps:new_app"
ROUTES = """\
routes:
  # Moves in two steps.
  - path: /r/healthy
    methods: [GET]
    target: canary
    weight: 0
    rollout: {steps: [50, 100], interval: 1, min_requests: 5, max_error_ratio: 0.1}
"""


def target_after_traffic(server: ServerProcess, routes_file: Path) -> str:
    deadline = time.monotonic() + 45
    with server.client() as client:
        while time.monotonic() < deadline:
            for _ in range(10):
                client.get("/r/healthy")
            entry = load_yaml(routes_file.read_text()).data["routes"][0]
            if entry["target"] == "new":
                return str(entry["target"])
            time.sleep(0.1)
    pytest.fail("the route did not move to new:\n" + server.log(), pytrace=False)


@pytest.mark.parametrize("workers", [1, 2])
def test_the_server_steps_its_own_routes(tmp_path: Path, workers: int) -> None:
    routes_file = tmp_path / "routes.yaml"
    routes_file.write_text(ROUTES, encoding="utf-8")
    env = {"GATEWAY_ROLLOUT": "true", "GATEWAY_ROLLOUT_EVERY": "0.3", "GATEWAY_ACCESS_LOG": "false"}
    with run_gateway(
        routes_file, legacy_app=LEGACY, new_app=NEW, workers=workers, env=env
    ) as server:
        assert target_after_traffic(server, routes_file) == "new"
        with server.client() as client:
            metrics = client.get("/metrics").text
        log = server.log()
    assert "# Moves in two steps." in routes_file.read_text()
    decisions = [
        json.loads(line) for line in log.splitlines() if line.startswith('{"event": "rollout"')
    ]
    assert [d["decision"] for d in decisions if d["written"]][-1] == "finish"
    if workers == 1:  # in the arbiter, its metrics are served on GATEWAY_METRICS_PORT only
        assert 'gateway_rollout_decisions_total{decision="finish"' in metrics


def test_a_read_only_config_folder_is_refused_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = GatewaySettings(routes_file=tmp_path / "routes.yaml", rollout=True)
    monkeypatch.setattr("os.access", lambda path, mode: False)  # root may write anywhere
    with pytest.raises(RolloutSetupError, match="is not writable"):
        check_writable(settings)
