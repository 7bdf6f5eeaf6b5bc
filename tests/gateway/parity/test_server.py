"""The ledger over the real server: two workers write one ledger that outlives the gateway."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner, Result

from gateway.cli import cli
from gateway.parity import readiness
from gateway.parity.store import LedgerMissing
from tests.gateway.parity.conftest import Postgres
from tests.gateway.parity.test_export import run_pytest
from tests.gateway.test_server import metric
from tests.servers import ServerProcess, bin_path, run_gateway
from tests.waiting import wait_for

# Two workers, traffic until both have written, then the CLI and pytest in subprocesses: 20-45 s
# on a loaded 2-core machine, so well above the default 120 s per test is kept in reserve.
pytestmark = pytest.mark.timeout(300)

LEGACY = "tests.gateway.parity.apps:flask_app"
NEW = "tests.gateway.parity.apps:fastapi_app"
TOKEN = "parity-admin-token"
# Every request is copied and compared however slowly the copies run (a loaded machine): the
# counts below are the requests sent, so none may be skipped for the default budget of 8 copies
# in flight, nor time out after the default 5 s (on a loaded 2-core machine under coverage, a
# third of one burst did).
ROUTES = """\
default: legacy
defaults:
  shadow: {concurrency: 1000, timeout: 120}
routes:
  - path: /books/{id}
    target: shadow
  - path: /authors/{id}
    target: shadow
  - path: /shelves
    target: shadow
"""
PATHS = {"/books/{id}": "/books/{n}", "/authors/{id}": "/authors/{n}", "/shelves": "/shelves"}


def routes_file(folder: Path) -> Path:
    path = folder / "routes.yaml"
    path.write_text(ROUTES, encoding="utf-8")
    return path


def gateway_parity(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [bin_path("gateway"), "parity", *args], capture_output=True, text=True, timeout=60
    )


def send_round(server: ServerProcess, sent: dict[str, int], size: int = 6) -> None:
    """`size` requests per route, each on a connection of its own, several at once (so that
    while one worker is busy the other accepts)."""

    def get(path: str) -> int:
        with server.client() as client:
            return client.get(path).status_code

    requests = [(t, path.format(n=n)) for t, path in PATHS.items() for n in range(size)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(get, [path for _, path in requests]))
    assert statuses == [200] * len(requests)
    for template, _ in requests:
        sent[template] += 1


def sample_pids(url: str) -> set[int]:
    try:
        found = readiness.read(url)
    except LedgerMissing:
        return set()
    return {
        sample["pid"]
        for parity in found
        for samples in [parity.match_samples, *[d.samples for d in parity.differences]]
        for sample in samples
    }


def report(url: str, *args: str) -> dict[str, Any]:
    done = gateway_parity("--ledger", url, "--format", "json", *args)
    assert done.returncode == 0, done.stderr
    routes: list[dict[str, Any]] = json.loads(done.stdout)["routes"]
    return {route["route"]: route for route in routes}


def served(server: ServerProcess, url: str) -> dict[str, int]:
    """Traffic until both workers have written to the ledger; what was sent, per route."""
    sent = dict.fromkeys(PATHS, 0)

    def both_wrote() -> bool:
        send_round(server, sent)
        return len(sample_pids(url)) == 2

    wait_for(both_wrote, 60)
    return sent


def all_compared(server: ServerProcess, sent: dict[str, int]) -> bool:
    """Whether both workers have finished every copy (counted in /metrics, summed over
    workers); the ledger may still hold the last of them in its queue."""
    text = httpx.get(server.base_url + "/metrics", timeout=10).text
    done = dict.fromkeys(sent, 0.0)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "gateway_shadow_comparisons_total":
                route = sample.labels["route"]
                done[route] = done.get(route, 0.0) + sample.value
    return all(done[route] >= count for route, count in sent.items())


@contextmanager
def run_two_workers(folder: Path, ledger: str) -> Iterator[ServerProcess]:
    env = {
        "GATEWAY_LEDGER_URL": ledger,
        "GATEWAY_LEDGER_SAMPLES": "50",  # room for both workers' samples
        "GATEWAY_ADMIN_TOKEN": TOKEN,
    }
    with run_gateway(routes_file(folder), legacy_app=LEGACY, new_app=NEW, workers=2, env=env) as s:
        yield s


def check_ledger_after_the_gateway(url: str, sent: dict[str, int], folder: Path, log: str) -> None:
    # Each worker's writer thread wrote every batch and its last one within the bound.
    for trouble in ("cannot write", "not written within", "queue full"):
        assert trouble not in log, log
    routes = report(url)
    books, authors, shelves = routes["/books/{id}"], routes["/authors/{id}"], routes["/shelves"]
    # Every comparison of both workers, written by the flush at shutdown at the latest.
    assert books["compared"] == books["matched"] == sent["/books/{id}"], (books, log)
    assert books["match_ratio"] == 1.0 and books["differences"] == []
    assert authors["compared"] == sent["/authors/{id}"] and authors["matched"] == 0
    (bio,) = authors["differences"]  # the one differing field, grouped
    assert (bio["fields"], bio["count"]) == (["body:$.author.bio"], sent["/authors/{id}"])
    assert bio["kinds"] == {"body:$.author.bio": "type_changed"}
    (vary,) = shelves["differences"]  # a header-only difference: one signature, counted
    assert (vary["fields"], vary["kinds"], vary["count"]) == (
        ["header:vary"],
        {"header:vary": "missing"},
        sent["/shelves"],
    )
    assert authors["entry_changed_at"] is not None and authors["last_mismatch"] is not None

    # The verdict and the export, in-process (the report above ran as a command already).
    require = ("--ledger", url, "--require", "0.99", "--route")
    assert in_process(*require, "/books/{id}").exit_code == 0
    failed = in_process(*require, "/authors/{id}")
    assert failed.exit_code == 1 and "FAIL" in failed.stdout

    for route, name, code in (("/books/{id}", "test_books.py", 0), ("/authors/{id}", "a.py", 1)):
        exported = folder / name
        export = ("export", "--ledger", url, "--route", route, "--output", str(exported))
        done = in_process(*export, "--legacy-app", LEGACY, "--new-app", NEW)
        assert done.exit_code == 0, done.stderr
        assert run_pytest(exported).returncode == code


def in_process(*args: str) -> Result:
    return CliRunner().invoke(cli, ["parity", *args])


def test_two_workers_write_one_ledger_that_outlives_the_gateway(
    tmp_path: Path, any_ledger: str
) -> None:
    with run_two_workers(tmp_path, any_ledger) as server:
        sent = served(server, any_ledger)
        with server.client() as client:
            answer = client.get(
                "/_gateway/api/parity", headers={"authorization": f"Bearer {TOKEN}"}
            )
        assert answer.status_code == 200
        assert {route["route"] for route in answer.json()["routes"]} == set(PATHS)
        refused = httpx.get(server.base_url + "/_gateway/api/parity", timeout=10)
        assert refused.status_code == 401
        # Stopped as soon as every copy ran: the ledger's last batch is written by the flush at
        # shutdown (its writer wakes every 0.5 s), not by waiting here.
        wait_for(lambda: all_compared(server, sent), 120)
    check_ledger_after_the_gateway(any_ledger, sent, tmp_path, server.log())


def test_an_unwritable_ledger_costs_no_request(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")  # a folder cannot be made here, even by root
    env = {"GATEWAY_DATA_DIR": str(blocker / "data")}
    with run_gateway(routes_file(tmp_path), legacy_app=LEGACY, new_app=NEW, env=env) as server:
        sent = dict.fromkeys(PATHS, 0)
        for _ in range(3):
            send_round(server, sent)  # every answer 200, asserted there
        wait_for(lambda: metric(server, "gateway_ledger_records_total", result="failed") > 0, 30)
        assert metric(server, "gateway_ledger_records_total", result="written") == 0
        wait_for(lambda: "cannot write" in server.log(), 30)


def test_a_stopped_postgres_costs_no_request(tmp_path: Path, postgres_server: Postgres) -> None:
    url = postgres_server.url(postgres_server.new_database(), password="never-logged")
    env = {"GATEWAY_LEDGER_URL": url}
    with run_gateway(routes_file(tmp_path), legacy_app=LEGACY, new_app=NEW, env=env) as server:

        def records(result: str) -> float:
            return metric(server, "gateway_ledger_records_total", result=result)

        sent = dict.fromkeys(PATHS, 0)
        send_round(server, sent)
        wait_for(lambda: records("written") >= 3 * 6, 30)
        postgres_server.stop()
        try:
            for _ in range(3):
                send_round(server, sent)  # every answer 200, asserted there
            wait_for(lambda: records("failed") > 0, 30)
            wait_for(lambda: "cannot write" in server.log(), 30)
        finally:
            postgres_server.start()
        written = records("written")
        send_round(server, sent)
        wait_for(lambda: records("written") > written, 30)  # the next batch writes again
        assert "never-logged" not in server.log()
