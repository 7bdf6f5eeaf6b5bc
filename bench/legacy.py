"""The legacy app every legacy setup of the benchmark serves: the example, plus one endpoint
that waits on I/O and one that computes.

The example's `/health` (one `SELECT 1` on SQLite, then JSON) is the CPU-bound endpoint: its
time is Python's, under the GIL. `/bench/io` waits 20 ms, as a call to a database or another
service would, holding its thread but not the GIL. `/bench/cpu` runs 400 sha256 rounds (about
0.2 ms of Python), so the serving machinery is a smaller share of each request. The example
itself is left untouched: the endpoints come in their own blueprint.
"""

from __future__ import annotations

import hashlib
import time

from flask import Blueprint

from legacy_app import create_app

IO_PATH = "/bench/io"
IO_WAIT = 0.02
CPU_PATH = "/bench/cpu"
CPU_ROUNDS = 400

io = Blueprint("bench", __name__)


@io.get(IO_PATH)
def wait_on_io() -> dict[str, float]:
    time.sleep(IO_WAIT)
    return {"waited": IO_WAIT}


@io.get(CPU_PATH)
def compute() -> dict[str, str]:
    digest = b"gateway"
    for _ in range(CPU_ROUNDS):
        digest = hashlib.sha256(digest).digest()
    return {"digest": digest.hex()}


app = create_app()
app.register_blueprint(io)
