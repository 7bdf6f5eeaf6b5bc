"""The ledger's file over the real server: created once by four workers starting together, and
written again after it is deleted while serving, by one worker or four."""

from __future__ import annotations

import os
import signal
import sqlite3
from pathlib import Path

import pytest

from gateway.parity import readiness
from gateway.parity.store import LedgerMissing
from tests.gateway.parity.test_server import (
    LEGACY,
    NEW,
    PATHS,
    all_compared,
    routes_file,
    sample_pids,
    send_round,
)
from tests.servers import ServerProcess, run_gateway
from tests.waiting import wait_for

pytestmark = pytest.mark.timeout(300)

TROUBLES = ("cannot write", "not written within", "queue full", "Traceback")


def compared(url: str) -> dict[str, int]:
    try:
        found = readiness.read(url)
    except LedgerMissing:
        return {}
    return {parity.route: parity.compared for parity in found}


def test_four_workers_create_one_ledger_on_a_fresh_data_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"  # does not exist yet: the first batch makes it, and the tables
    env = {"GATEWAY_DATA_DIR": str(data)}
    sent = dict.fromkeys(PATHS, 0)
    with run_gateway(
        routes_file(tmp_path), legacy_app=LEGACY, new_app=NEW, workers=4, env=env
    ) as server:
        # Shadowed traffic from the first moment: every worker's writer opens the new file in
        # its first batch, at about the same time.
        for _ in range(4):
            send_round(server, sent, size=8)
        wait_for(lambda: all_compared(server, sent), 120)
    log = server.log()
    for trouble in TROUBLES:
        assert trouble not in log, log
    # Every comparison counted, written by the flush at shutdown at the latest.
    assert compared(f"sqlite:///{data / 'parity.db'}") == sent, log


def test_a_ledger_file_deleted_while_serving_is_made_again(tmp_path: Path) -> None:
    path = tmp_path / "parity.db"
    url = f"sqlite:///{path}"
    sent = dict.fromkeys(PATHS, 0)
    env = {"GATEWAY_LEDGER_URL": url}
    with run_gateway(routes_file(tmp_path), legacy_app=LEGACY, new_app=NEW, env=env) as server:
        send_round(server, sent)
        wait_for(lambda: compared(url) == sent, 60)
        path.unlink()  # as an operator would, to start again (its -wal and -shm left behind)
        again = dict.fromkeys(PATHS, 0)
        send_round(server, again)
        # The next comparisons are in a new file, and only they.
        wait_for(lambda: compared(url) == again, 60)
    log = server.log()
    assert "deleted or replaced" in log, log
    for trouble in TROUBLES:
        assert trouble not in log, log


def integrity(path: Path) -> str:
    connection = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=30)
    try:
        return str(connection.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        connection.close()


def until_four_wrote(
    server: ServerProcess, url: str, sent: dict[str, int], *, besides: frozenset[int] = frozenset()
) -> set[int]:
    """Traffic until samples of four workers (other than `besides`) are in the file, each
    having its writer open; their process ids."""
    found: set[int] = set()

    def four_wrote() -> bool:
        send_round(server, sent)
        found.clear()
        found.update(sample_pids(url) - besides)
        return len(found) >= 4

    wait_for(four_wrote, 180, "comparisons of four workers in the ledger")
    return found


def running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def counted(*rounds: dict[str, int]) -> dict[str, int]:
    return {route: sum(sent[route] for sent in rounds) for route in PATHS}


@pytest.mark.parametrize(
    "deleted",
    [
        pytest.param(("",), id="the-file"),
        pytest.param(("", "-wal", "-shm"), id="the-file-its-wal-and-shm"),
    ],
)
def test_a_ledger_file_deleted_while_four_workers_serve_is_made_again(
    tmp_path: Path, deleted: tuple[str, ...]
) -> None:
    """Each worker notices the deletion at its own time and closes its connection to the old
    file (the last to close it is any of them); none may take the new file's `-wal` or `-shm`
    with it, nor the new file the old ones. Then the workers are replaced, closing the new file
    in turn while the others write, and their successors open it."""
    path = tmp_path / "parity.db"
    url = f"sqlite:///{path}"
    env = {"GATEWAY_LEDGER_URL": url, "GATEWAY_LEDGER_SAMPLES": "200"}  # room for each worker
    before = dict.fromkeys(PATHS, 0)
    with run_gateway(
        routes_file(tmp_path), legacy_app=LEGACY, new_app=NEW, workers=4, env=env
    ) as server:
        until_four_wrote(server, url, before)
        wait_for(lambda: compared(url) == before, 60, "every comparison in the first file")
        for suffix in deleted:
            Path(f"{path}{suffix}").unlink()
        after = dict.fromkeys(PATHS, 0)
        replaced = until_four_wrote(server, url, after)
        # Every comparison since the deletion, of every worker, and only those.
        wait_for(lambda: compared(url) == after, 60, "every later comparison in the new file")
        assert integrity(path) == "ok"
        for pid in replaced:
            os.kill(pid, signal.SIGINT)  # as the arbiter replaces a worker
        # Gone before more traffic: what follows is their successors' alone.
        wait_for(lambda: not any(running(pid) for pid in replaced), 60, "the workers replaced")
        later = dict.fromkeys(PATHS, 0)
        until_four_wrote(server, url, later, besides=frozenset(replaced))
        wait_for(lambda: compared(url) == counted(after, later), 60, "the successors' too")
        assert integrity(path) == "ok"
    log = server.log()
    assert "deleted or replaced" in log, log
    for trouble in TROUBLES:
        assert trouble not in log, log
    # The last worker to stop checkpointed the new file: everything is in it, whole.
    assert compared(url) == counted(after, later), log
    assert integrity(path) == "ok"
