"""The alert rules and the example Prometheus configuration in deploy/prometheus."""

from __future__ import annotations

import re
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.dashboard import PROMETHEUS_DIR

ALERTS = PROMETHEUS_DIR / "alerts.yml"
ALERTS_TEST = PROMETHEUS_DIR / "alerts_test.yml"
CONFIG = PROMETHEUS_DIR / "prometheus.yml"


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in load(ALERTS)["groups"] for rule in group["rules"] if "alert" in rule]


def run_promtool(promtool: str, *args: str) -> str:
    result = subprocess.run(
        [promtool, *args], capture_output=True, text=True, timeout=60, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"promtool {' '.join(args)} failed:\n{output}"
    return output


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("check", "rules", str(ALERTS)), id="check-rules"),
        pytest.param(("test", "rules", str(ALERTS_TEST)), id="test-rules"),
        pytest.param(("check", "config", str(CONFIG)), id="check-config"),
    ],
)
def test_promtool_accepts(promtool: str, args: tuple[str, ...]) -> None:
    output = run_promtool(promtool, *args)
    assert "SUCCESS" in output


def test_example_config_loads_the_alert_rules() -> None:
    config = load(CONFIG)
    assert [(CONFIG.parent / name).resolve() for name in config["rule_files"]] == [ALERTS]
    jobs = [job["job_name"] for job in config["scrape_configs"]]
    assert jobs == ["gateway"]


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: rule["alert"])
def test_alert_is_complete(rule: dict[str, Any]) -> None:
    assert "for" in rule
    assert rule["labels"]["severity"] in {"critical", "warning"}
    annotations = rule["annotations"]
    assert annotations["summary"] and annotations["description"]
    # Each alert names what it is about: a route, or one gateway instance.
    # (`route` the label, as in `by (route)`, not a metric named gateway_route_...)
    by_route = re.search(r"\broute\b", rule["expr"])
    subject = "{{ $labels.route }}" if by_route else "{{ $labels.instance }}"
    assert subject in annotations["summary"] and subject in annotations["description"]


def test_every_alert_has_firing_and_quiet_unit_tests() -> None:
    cases: dict[str, set[bool]] = defaultdict(set)
    for test in load(ALERTS_TEST)["tests"]:
        for case in test.get("alert_rule_test", []):
            cases[case["alertname"]].add(bool(case.get("exp_alerts")))
    for rule in alert_rules():
        assert cases[rule["alert"]] == {True, False}, (
            f"alerts_test.yml must show {rule['alert']} both firing and not firing"
        )
