"""`gateway parity`: the report, its verdict and its exit status, read from a ledger file."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from gateway.cli import cli
from gateway.settings import GatewaySettings
from tests.gateway.parity.ledgers import make_copy, make_ledger, seen, sqlite_url, write

runner = CliRunner()


@pytest.fixture
def ledger(tmp_path: Path) -> str:
    url = sqlite_url(tmp_path)
    now = time.time()
    write(url, [seen(now, route="/good") for _ in range(20)])
    write(url, [seen(now, route="/bad") for _ in range(6)])
    write(url, [seen(now, "mismatch", route="/bad") for _ in range(4)])
    return url


def parity(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(cli, ["parity", *args])
    return result.exit_code, result.stdout, result.stderr


def test_the_table_shows_each_route_and_its_grouped_differences(ledger: str) -> None:
    code, out, _ = parity("--ledger", ledger)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["ROUTE", "COMPARED", "MATCHED"]
    assert lines[1].split()[:3] == ["/bad", "10", "6"] and "60.00%" in lines[1]
    assert lines[2].split() == ["4", "x", "mismatch", "body:$.value", "(changed)"]
    assert lines[3].split()[:3] == ["/good", "20", "20"] and "100.00%" in lines[3]


def test_the_json_report(ledger: str) -> None:
    code, out, _ = parity("report", "/bad", "--ledger", ledger, "--format", "json")
    assert code == 0
    (route,) = json.loads(out)["routes"]
    assert (route["route"], route["compared"], route["matched"]) == ("/bad", 10, 6)
    assert route["match_ratio"] == 0.6
    (difference,) = route["differences"]
    assert (difference["fields"], difference["count"]) == (["body:$.value"], 4)
    assert difference["samples"] == []  # only with --samples


@pytest.mark.parametrize(
    ("args", "code"),
    [
        pytest.param(["--route", "/good", "--require", "0.99"], 0, id="good-passes"),
        pytest.param(["--route", "/bad", "--require", "0.99"], 1, id="bad-fails"),
        pytest.param(["--route", "/bad", "--require", "0.6"], 0, id="bad-at-its-ratio"),
        pytest.param(["--require", "0.99"], 1, id="every-route-must-pass"),
        pytest.param(["--require", "0.5", "--min-compared", "15"], 1, id="too-few"),
        pytest.param(["--require", "0", "--min-compared", "15"], 1, id="too-few-at-ratio-0"),
        pytest.param(["--require", "0"], 0, id="ratio-0"),
        pytest.param(["--route", "/good", "--require", "1", "--min-compared", "20"], 0, id="n"),
        pytest.param(["--route", "/unknown", "--require", "0.5"], 1, id="unknown-route"),
        pytest.param(["--since", "1h", "--require", "0.5"], 0, id="recent"),
        pytest.param(["--since", "2100-01-01T00:00:00Z", "--require", "0.5"], 1, id="none-yet"),
    ],
)
def test_require_sets_the_exit_status(ledger: str, args: list[str], code: int) -> None:
    assert parity("--ledger", ledger, *args)[0] == code


def test_a_route_with_only_timeouts_was_never_compared(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    write(url, [seen(time.time(), "timeout", route="/slow") for _ in range(3)])
    code, out, _ = parity("--ledger", url, "--require", "0")
    assert code == 1 and out.splitlines()[1].endswith("FAIL")
    assert out.splitlines()[1].split()[1:7] == ["0", "0", "0", "0", "3", "-"]


def test_the_verdict_is_shown(ledger: str) -> None:
    _, out, _ = parity("--ledger", ledger, "--require", "0.9")
    assert out.splitlines()[1].endswith("FAIL") and out.splitlines()[3].endswith("ok")
    _, out, _ = parity("--ledger", ledger, "--require", "0.9", "--format", "json")
    assert [route["meets"] for route in json.loads(out)["routes"]] == [False, True]


def test_a_missing_ledger_is_exit_2_and_says_where(tmp_path: Path) -> None:
    code, _, err = parity("--ledger", sqlite_url(tmp_path / "nowhere"))
    assert code == 2 and "no ledger at" in err


def test_a_bad_since_is_a_usage_error(ledger: str) -> None:
    code, _, err = parity("--ledger", ledger, "--since", "last tuesday")
    assert code == 2 and "give a duration" in err


def test_the_ledger_defaults_to_the_settings(
    ledger: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_LEDGER_URL", ledger)
    assert parity("report", "/good", "--require", "1")[0] == 0
    monkeypatch.delenv("GATEWAY_LEDGER_URL")
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path))  # its parity.db is the default
    assert parity("report", "/good", "--require", "1")[0] == 0
    monkeypatch.setenv("GATEWAY_LEDGER_URL", "mysql://x/y")
    code, _, err = parity()
    assert code == 2 and "invalid settings" in err


def test_a_bad_ledger_url_is_refused_without_its_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_LEDGER_URL", "mysql://ledger:pw-never-shown@db/parity")
    code, _, err = parity()
    assert code == 2 and "invalid settings" in err and "mysql://ledger:***@db" in err
    assert "pw-never-shown" not in err
    with pytest.raises(ValidationError) as caught:
        GatewaySettings()  # as `gateway serve` reports it too
    assert "pw-never-shown" not in str(caught.value)


def test_an_empty_ledger_reports_nothing(tmp_path: Path) -> None:
    (tmp_path / "parity.db").touch()
    code, out, _ = parity("--ledger", sqlite_url(tmp_path))
    assert code == 0 and out.strip() == "no comparisons recorded"


def test_export_needs_samples(ledger: str, tmp_path: Path) -> None:
    code, _, err = parity(
        "export", "--ledger", ledger, "--route", "/nothing", "--output", str(tmp_path / "t.py")
    )
    assert code == 1 and "no sampled exchanges of /nothing" in err
    assert not (tmp_path / "t.py").exists()


def test_export_makes_the_output_s_folder_and_says_why_it_cannot_write(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    recorder = make_ledger(url)
    recorder.start()
    recorder.record(make_copy("/books/{id}", "/books/1"), "match", [])
    assert recorder.close(10)
    apps = ("--legacy-app", "a:legacy", "--new-app", "b:new")
    export = ("export", "--ledger", url, "--route", "/books/{id}", *apps, "--output")
    # The README's example writes to tests/parity/, which a first export has to make.
    nested = tmp_path / "tests" / "parity" / "test_books.py"
    code, out, _ = parity(*export, str(nested))
    assert code == 0 and nested.is_file(), out
    code, _, err = parity(*export, str(tmp_path))  # a folder, not a file
    assert code == 1 and f"cannot write {tmp_path}" in err
