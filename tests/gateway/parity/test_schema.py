"""The ledger's tables, created by many processes at the same moment on a fresh file."""

from __future__ import annotations

import multiprocessing
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest
from sqlalchemy import inspect

from gateway.parity import schema
from gateway.parity.store import ensure_schema, ledger_url, open_engine

pytestmark = pytest.mark.timeout(120)
PROCESSES = 8


def create_together(url: str, barrier: Barrier, errors: multiprocessing.Queue[str]) -> None:
    engine = open_engine(ledger_url(url), create=True)
    barrier.wait()
    try:
        ensure_schema(engine)
    except Exception as exc:  # reported to the test, which fails on it
        errors.put(f"{type(exc).__name__}: {exc}")
    finally:
        engine.dispose()


@pytest.mark.parametrize("attempt", range(3))
def test_processes_starting_together_create_the_tables_once(tmp_path: Path, attempt: int) -> None:
    url = f"sqlite:///{tmp_path / 'fresh' / 'parity.db'}"
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    errors: multiprocessing.Queue[str] = context.Queue()
    processes = [
        context.Process(target=create_together, args=(url, barrier, errors))
        for _ in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
    assert [process.exitcode for process in processes] == [0] * PROCESSES
    found = []
    while not errors.empty():
        found.append(errors.get())
    assert found == []
    engine = open_engine(ledger_url(url), create=False)
    try:
        assert set(inspect(engine).get_table_names()) == set(schema.metadata.tables)
    finally:
        engine.dispose()
