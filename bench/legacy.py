"""The legacy app every legacy setup of the benchmark serves: the example, plus one endpoint
that waits on I/O.

The example's `/health` (one `SELECT 1` on SQLite, then JSON) is the CPU-bound endpoint: its
time is Python's, under the GIL. `/bench/io` waits 20 ms, as a call to a database or another
service would, holding its thread but not the GIL. The example itself is left untouched: the
endpoint comes in its own blueprint.
"""

from __future__ import annotations

import time

from flask import Blueprint

from legacy_app import create_app

IO_PATH = "/bench/io"
IO_WAIT = 0.02

io = Blueprint("bench", __name__)


@io.get(IO_PATH)
def wait_on_io() -> dict[str, float]:
    time.sleep(IO_WAIT)
    return {"waited": IO_WAIT}


app = create_app()
app.register_blueprint(io)
