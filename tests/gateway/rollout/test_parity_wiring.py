"""The rollout's parity gate reads the parity ledger: per route and methods, what it compared."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gateway.rollout.controller import Controller
from gateway.rollout.decide import NoParity
from gateway.rollout.file_lock import FileLock
from gateway.rollout.file_store import FileStore
from gateway.rollout.parity_wiring import LedgerParity, ledger_parity
from gateway.settings import GatewaySettings
from tests.gateway.parity.ledgers import seen, sqlite_url, write
from tests.gateway.rollout.fakes import FakeSource


def test_the_gate_reads_the_route_and_methods_it_judges(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    now = time.time()
    write(url, [seen(now), seen(now), seen(now), seen(now, "mismatch")])
    write(url, [seen(now, "mismatch", "POST"), seen(now, route="/other")])
    source = LedgerParity(url)
    gets = source.parity("/r", frozenset({"GET"}))
    assert gets is not None and (gets.compared, gets.match_ratio) == (4, 0.75)
    every = source.parity("/r", None)
    assert every is not None and (every.compared, every.match_ratio) == (5, 0.6)
    assert source.parity("/never-shadowed", None) is None


def test_a_ledger_that_cannot_be_read_is_no_evidence(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert LedgerParity(f"sqlite:///{tmp_path / 'absent' / 'parity.db'}").parity("/r", None) is None
    assert "parity gate" in caplog.text


def test_no_ledger_means_no_evidence(tmp_path: Path) -> None:
    assert isinstance(ledger_parity(GatewaySettings(ledger=False)), NoParity)
    assert isinstance(ledger_parity(GatewaySettings(data_dir=tmp_path)), LedgerParity)


def test_a_rollout_without_a_parity_gate_never_reads_the_ledger(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    routes_file = tmp_path / "routes.yaml"
    routes_file.write_text(
        "routes:\n  - path: /r\n    target: canary\n    weight: 0\n"
        "    rollout: {steps: [50, 100], min_requests: 1}\n",
        encoding="utf-8",
    )
    absent = LedgerParity(f"sqlite:///{tmp_path / 'absent' / 'parity.db'}")
    lock = FileLock(tmp_path / "lock")
    controller = Controller(FileStore(routes_file), lock, FakeSource(), absent)
    try:
        for _ in range(3):
            controller.run_once()
    finally:
        lock.release()
    # Nothing to say about a ledger no gate asked for: every pass would repeat it.
    assert "parity gate" not in caplog.text
