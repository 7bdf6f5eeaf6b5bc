"""The benchmark harness runs end to end in a tiny mode. Speed is not asserted: that is the
report's business (bench/README.md), not a test's, on a shared machine."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.report import TARGETS, Run, Target, per_round
from bench.run import chosen
from bench.setups import SETUPS
from bench.tables import LARGE_SIZE, SHADOWED_YAML, UNSHADOWED_YAML, routes_yaml
from bench.wrk import parse_wrk
from gateway.config.routes_file import parse_routes
from tests.servers import REPO_ROOT

WRK_OUTPUT = """\
Running 1s test @ http://127.0.0.1:8000/health
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    10.43ms    2.30ms  30.12ms   80.00%
    Req/Sec     3.06k   200.00     3.30k    70.00%
  Latency Distribution
     50%   10.11ms
     75%   11.00ms
     90%   12.50ms
     99%  850.00us
  3060 requests in 1.00s, 450.00KB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:   3059.12
Transfer/sec:    450.00KB
"""


def test_wrk_report_is_read() -> None:
    result = parse_wrk(WRK_OUTPUT)
    assert (result.requests_per_second, result.requests) == (3059.12, 3060)
    assert (result.p50_ms, result.p99_ms) == (10.11, 0.85)
    assert result.errors == 7
    assert result.max_ms == 30.12


def test_only_a_group_runs_the_setups_its_ratios_compare() -> None:
    assert [setup.key for setup in chosen(["shadow"])] == [
        "gateway_me_legacy",
        "gateway_shadow",
        "gateway_shadow_noledger",
    ]
    assert {setup.key for setup in chosen(["workers", "uvicorn_new"])} == {
        "gunicorn_w2",
        "gateway_w2",
        "uvicorn_new",
    }
    assert len(chosen(None)) == len(SETUPS)


def test_a_difference_target_subtracts_and_says_by_how_much_it_is_missed() -> None:
    target = Target("log", "log cost", "on", "off", "cpu_us", at_most=10.0, difference=True)
    runs = [
        Run(1, "on", 100.0, 1.0, 2.0, 10, 0, 50.0, cpu_us=215.0),
        Run(1, "off", 110.0, 1.0, 2.0, 10, 0, 50.0, cpu_us=200.0),
    ]
    [value] = per_round(runs, target)
    assert value == 15.0
    assert not target.met(value) and target.missed_by(value) == 5.0
    assert target.missed_by(9.0) == 0.0


@pytest.mark.parametrize("yaml", [SHADOWED_YAML, UNSHADOWED_YAML])
def test_the_api_me_tables_are_valid(yaml: str) -> None:
    assert len(parse_routes(yaml.encode(), "generated")) == 1


def test_large_table_is_valid_and_full() -> None:
    table = parse_routes(routes_yaml(with_dummies=True).encode(), "generated")
    assert len(table) == LARGE_SIZE


@pytest.mark.skipif(
    shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)"
)
# Every setup's servers start and stop in turn: about 20 s idle, 3x that and more on a loaded
# machine. The run's own timeout comes first, so a hang fails with the harness's output.
@pytest.mark.timeout(360)
def test_tiny_run_writes_every_report(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "bench.run", "--rounds", "1", "--duration", "1", "--warmup", "0"]
        + ["--output", str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    summary = json.loads((tmp_path / "latest.json").read_text(encoding="utf-8"))
    assert set(summary["setups"]) == {setup.key for setup in SETUPS}
    assert all(row["errors"] == 0 for row in summary["setups"].values())
    assert {target.key for target in TARGETS} <= set(summary["ratios"])
    table = (tmp_path / "latest.md").read_text(encoding="utf-8")
    assert "| met |" in table or "missed by" in table
    assert all(row["cpu_us_median"] > 0 for row in summary["setups"].values())
    assert (tmp_path / "latest.png").read_bytes().startswith(b"\x89PNG")
