"""Grouping of header-only mismatches in the log: the first in full, then counts."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

from gateway.observe.mismatch_log import MismatchLog

HEADER = ["header:vary"]


def record(number: int, route: str = "/r") -> dict[str, Any]:
    return {"route": route, "request_id": f"id-{number}", "differences": [{"field": "x"}]}


def logged(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "gateway.events"]


@pytest.fixture(autouse=True)
def capture(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="gateway.events")


def test_repeats_are_counted_and_written_at_the_interval(caplog: pytest.LogCaptureFixture) -> None:
    async def run() -> None:
        log = MismatchLog()
        for number in range(5):
            log.report("shadow_mismatch", record(number), HEADER, every=0.05)
        assert len(logged(caplog)) == 1  # the repeats wait for the interval
        # The summary is written by the loop's timer, with no further call from here.
        while len(logged(caplog)) < 2:
            await asyncio.sleep(0.01)

    asyncio.run(asyncio.wait_for(run(), 10))
    first, summary = logged(caplog)
    assert first["event"] == "shadow_mismatch" and first["grouped"] is True
    assert first["request_id"] == "id-0" and first["summary_every"] == 0.05
    assert summary["count"] == 4 and summary["fields"] == HEADER
    assert summary["last_request_id"] == "id-4" and summary["route"] == "/r"
    assert summary["time"].endswith("+00:00")


def test_other_differences_are_each_written(caplog: pytest.LogCaptureFixture) -> None:
    log = MismatchLog()
    for number in range(3):
        log.report("shadow_mismatch", record(number), ["header:vary", "body:$.a"], every=60)
    log.report("shadow_mismatch", record(3), HEADER, every=0)  # 0: never grouped
    log.report("shadow_mismatch", record(4), HEADER, every=0)
    assert [line["request_id"] for line in logged(caplog)] == [f"id-{n}" for n in range(5)]
    assert all("grouped" not in line for line in logged(caplog))


def test_flush_and_eviction_write_pending_counts(caplog: pytest.LogCaptureFixture) -> None:
    async def run() -> None:
        log = MismatchLog(max_groups=2)
        for route in ("/a", "/b"):
            for number in range(3):
                log.report("shadow_mismatch", record(number, route), HEADER, every=3600)
        log.report("shadow_mismatch", record(9, "/c"), HEADER, every=3600)  # evicts /a
        log.flush()  # as at shutdown: /b's count now, not in an hour

    asyncio.run(run())
    summaries = [line for line in logged(caplog) if line["event"] == "shadow_mismatch_summary"]
    assert [(line["route"], line["count"]) for line in summaries] == [("/a", 2), ("/b", 2)]
