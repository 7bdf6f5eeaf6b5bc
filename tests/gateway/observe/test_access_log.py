from __future__ import annotations

import asyncio
import json
import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from gateway.app import GatewayConfigError, create_app
from gateway.observe.access_log import (
    FLUSH_LINES,
    AccessLog,
    _Clock,
    destinations,
    flush_all,
    log_time,
    request_line,
)
from tests.gateway.in_process import serving, settings
from tests.waiting import eventually

ROUTES = "routes:\n  - path: /api/items\n    target: new\n"


def _record(**values: Any) -> dict[str, object]:
    """The record the access log wrote with `json.dumps` before lines were built by hand."""
    record: dict[str, object] = {
        "time": values["now"],
        "event": "request",
        "request_id": values["request_id"],
        "method": values["method"],
        "path": values["path"],
        "route": values["route"],
        "side": values["side"],
        "status": values["status"],
        "duration_ms": round(values["duration"] * 1000, 3),
        "client": values["client"],
    }
    for optional in ("target", "fallback_from", "decision"):
        if values.get(optional) is not None:
            record[optional] = values[optional]
    if values.get("failed"):
        record["failed"] = True
    if values.get("trace") is not None:
        record["trace_id"], record["span_id"] = values["trace"]
    return record


@pytest.mark.parametrize(
    "values",
    [
        pytest.param({}, id="plain"),
        pytest.param({"client": None}, id="no client"),
        pytest.param({"path": '/a"b\\c\n\u2028\u0085é\U0001f600'}, id="escapes"),
        pytest.param(
            {
                "target": "canary",
                "fallback_from": "new",
                "decision": 'rule "0"',
                "failed": True,
                "trace": ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"),
            },
            id="every field",
        ),
        pytest.param({"duration": 1e-7}, id="tiny duration"),
        pytest.param({"duration": 12.3456789}, id="long duration"),
    ],
)
def test_a_line_is_what_json_dumps_writes(values: dict[str, Any]) -> None:
    given: dict[str, Any] = {
        "now": "2026-12-07T17:32:25.123+00:00",
        "request_id": "abc-123",
        "method": "GET",
        "path": "/api/items/7",
        "route": "/api/items/{item_id}",
        "side": "new",
        "status": 200,
        "duration": 0.0123456,
        "client": "127.0.0.1:50000",
        **values,
    }
    line = request_line(**given)
    assert line == json.dumps(_record(**given))
    assert "\n" not in line and line.isascii()


def test_the_clock_writes_what_log_time_writes() -> None:
    clock = _Clock()
    pattern = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00")
    for _ in range(3):
        before = datetime.fromisoformat(log_time())
        stamp = clock.now()
        after = datetime.fromisoformat(log_time())
        assert pattern.fullmatch(stamp), stamp
        assert before <= datetime.fromisoformat(stamp) <= after
        assert datetime.fromisoformat(stamp).tzinfo == UTC


def test_lines_are_written_in_a_batch_within_a_short_while(tmp_path: Path) -> None:
    path = tmp_path / "access.log"

    async def run() -> None:
        log = AccessLog(str(path))
        log.add('{"n": 1}')
        log.add('{"n": 2}')
        assert not path.exists()  # waiting for the batch
        await eventually(path.exists, what="the batch written")
        assert path.read_text(encoding="utf-8") == '{"n": 1}\n{"n": 2}\n'

    asyncio.run(run())


def test_a_full_buffer_is_written_at_once(tmp_path: Path) -> None:
    path = tmp_path / "access.log"

    async def run() -> None:
        log = AccessLog(str(path))
        for n in range(FLUSH_LINES):
            log.add(f'{{"n": {n}}}')
        assert len(path.read_text(encoding="utf-8").splitlines()) == FLUSH_LINES

    asyncio.run(run())


def test_off_an_event_loop_a_line_is_written_at_once(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    AccessLog(str(path)).add("{}")
    assert path.read_text(encoding="utf-8") == "{}\n"


def test_waiting_lines_are_written_at_exit_and_before_a_fork(tmp_path: Path) -> None:
    path = tmp_path / "access.log"

    async def run() -> None:
        log = AccessLog(str(path))
        log.add("{}")
        flush_all()  # what atexit and os.register_at_fork(before=...) call
        assert path.read_text(encoding="utf-8") == "{}\n"

    asyncio.run(run())


def test_several_destinations_get_every_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "access.log"
    with caplog.at_level(logging.INFO, logger="gateway.access"):
        log = AccessLog(f"stdout, stderr, logging, {path}")
        log.add("{}")  # off a loop: at once
    out, err = capsys.readouterr()
    assert out == err == path.read_text(encoding="utf-8") == "{}\n"
    assert [r.getMessage() for r in caplog.records if r.name == "gateway.access"] == ["{}"]


@pytest.mark.parametrize("setting", ["", " , "])
def test_a_setting_naming_no_destination_is_refused(setting: str) -> None:
    with pytest.raises(ValueError, match="no destination"):
        destinations(setting)


def test_a_served_gateway_logs_each_answer_by_shutdown(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    given = settings(tmp_path, ROUTES, access_log=True, access_log_to=str(path))

    async def run() -> None:
        async with serving(given, CollectorRegistry()) as (_, client):
            response = await client.get("/api/items", headers={"X-Request-ID": "req-1"})
            assert response.status_code == 200
        # The lifespan's shutdown wrote the line, whatever the timer had done by then.
        [line] = path.read_text(encoding="utf-8").splitlines()
        record = json.loads(line)
        assert record["request_id"] == "req-1"
        assert (record["route"], record["side"], record["status"]) == ("/api/items", "new", 200)

    asyncio.run(run())


def test_a_bad_destination_is_a_configuration_error(tmp_path: Path) -> None:

    with pytest.raises(GatewayConfigError, match="GATEWAY_ACCESS_LOG_TO"):
        create_app(settings(tmp_path, ROUTES, access_log=True, access_log_to=","))
