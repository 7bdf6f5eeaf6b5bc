"""A Flask app for the bridge's real-server tests: slow, endless, failing and gated calls.

`/stats` reports how many endless streams were opened and how many the server closed (their
generator's `finally` ran), which is how a test sees that abandoned streams were stopped, and
how many times `/counted` ran.

A gated view blocks until the test opens its gate: the view connects to the test's listening
socket (`?gate=PORT`) and waits for that connection to close. The test thus knows when a view
runs (it accepts the connection) and decides when it ends, with no sleeping on either side.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

from flask import Flask, Response, jsonify, request, stream_with_context
from flask.typing import ResponseReturnValue

app = Flask("bridge_tests")

_lock = threading.Lock()
_counts = {"opened": 0, "closed": 0, "counted": 0}
GATE_LIMIT = 60.0  # seconds: a gate the test forgot to open lets its view go in the end


def _count(key: str) -> None:
    with _lock:
        _counts[key] += 1


@app.get("/quick")
def quick() -> ResponseReturnValue:
    return jsonify(ok=True)


@app.get("/cpu")
def cpu() -> ResponseReturnValue:
    """A call that only computes (a few milliseconds): threads beyond one fight for the GIL."""
    return jsonify(total=sum(i * i for i in range(100_000)))


@app.get("/stats")
def stats() -> ResponseReturnValue:
    with _lock:
        return jsonify(_counts)


@app.get("/endless")
def endless() -> ResponseReturnValue:
    _count("opened")

    def generate() -> Iterator[str]:
        try:
            seq = 0
            while True:
                seq += 1
                # request is only readable here through stream_with_context (closed by close()).
                yield f"data: {seq} {request.path}\n\n"
                time.sleep(0.02)
        finally:
            _count("closed")

    return Response(stream_with_context(generate()), mimetype="text/event-stream")


@app.get("/fail-mid-stream")
def fail_mid_stream() -> ResponseReturnValue:
    def generate() -> Iterator[bytes]:
        yield b"partial output\n"
        raise RuntimeError("the generator failed after the response started")

    return Response(generate(), mimetype="text/plain")


def _wait_at_gate(port: int | None) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=GATE_LIMIT) as sock:
        sock.recv(1)  # until the test closes its end


@app.get("/gated")
def gated() -> ResponseReturnValue:
    _wait_at_gate(request.args.get("gate", type=int))
    return jsonify(gated=True)


@app.get("/counted")
def counted() -> ResponseReturnValue:
    _count("counted")
    return jsonify(counted=True)


@app.get("/drip")
def drip() -> ResponseReturnValue:
    """httpbin's /drip, gated: a Content-Length (unless `length=no`), and the rest of the body
    only once the gate opens."""
    port = request.args.get("gate", type=int)
    headers = {} if request.args.get("length") == "no" else {"Content-Length": "4"}

    def generate() -> Iterator[bytes]:
        yield b"*"
        _wait_at_gate(port)
        yield b"***"

    return Response(generate(), mimetype="text/plain", headers=headers)


@app.get("/threads")
def threads() -> ResponseReturnValue:
    """The WSGI threads alive in this process (the bridge names them wsgi-N)."""
    names = [thread.name for thread in threading.enumerate()]
    return jsonify(wsgi=sum(1 for name in names if name.startswith("wsgi-")))
