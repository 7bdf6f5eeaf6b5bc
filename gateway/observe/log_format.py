"""The plain log lines' format: uvicorn's, with the access log's timestamp in front.

uvicorn's default lines (`INFO:     Started server process`) carry no time, so a reload, a
rejected routes file or a worker replaced could not be placed beside the JSON access log. Each
line now starts with the same UTC ISO 8601 time, to the millisecond, as the JSON lines' `time`.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from uvicorn.logging import DefaultFormatter

LINE_FORMAT = "%(asctime)s %(levelprefix)s %(message)s"


class TimestampedFormatter(DefaultFormatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
