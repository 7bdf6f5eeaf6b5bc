"""The ledger's file over the real server: created once by four workers starting together, and
written again after it is deleted while serving."""

from __future__ import annotations

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
    send_round,
)
from tests.servers import run_gateway
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
