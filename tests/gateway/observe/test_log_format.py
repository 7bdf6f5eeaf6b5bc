"""Plain log lines start with the time, in the access log's format (UTC, milliseconds)."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime

from gateway.cli import log_config
from gateway.observe.log_format import LINE_FORMAT, TimestampedFormatter


def test_a_plain_line_starts_with_its_time() -> None:
    record = logging.LogRecord("gateway", logging.INFO, __file__, 1, "reloaded", None, None)
    record.created = datetime(2026, 1, 31, 12, 0, 1, 234000, tzinfo=UTC).timestamp()
    line = TimestampedFormatter(fmt=LINE_FORMAT, use_colors=False).format(record)
    assert line == "2026-01-31T12:00:01.234+00:00 INFO:     reloaded"


def test_the_servers_log_setup_uses_it() -> None:
    config = log_config("info")
    formatter = config["formatters"]["default"]
    assert formatter["()"] == "gateway.observe.log_format.TimestampedFormatter"
    assert formatter["fmt"] == LINE_FORMAT
    # Every plain logger writes through that formatter's handler.
    for name in ("uvicorn", "gateway"):
        assert config["loggers"][name]["handlers"] == ["default"]
    assert config["handlers"]["default"]["formatter"] == "default"
    assert re.fullmatch(r"%\(asctime\)s .*", LINE_FORMAT)
