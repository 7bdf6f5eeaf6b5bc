"""A Flask app for the bridge's real-server tests: slow, endless and failing streams.

`/stats` reports how many endless streams were opened and how many the server closed (their
generator's `finally` ran), which is how a test sees that abandoned streams were stopped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from flask import Flask, Response, jsonify, request, stream_with_context
from flask.typing import ResponseReturnValue

app = Flask("bridge_tests")

_lock = threading.Lock()
_counts = {"opened": 0, "closed": 0}


def _count(key: str) -> None:
    with _lock:
        _counts[key] += 1


@app.get("/quick")
def quick() -> ResponseReturnValue:
    return jsonify(ok=True)


@app.get("/stats")
def stats() -> ResponseReturnValue:
    with _lock:
        return jsonify(_counts)


@app.get("/slow-stream")
def slow_stream() -> ResponseReturnValue:
    pause = request.args.get("pause", 1.0, type=float)

    def generate() -> Iterator[bytes]:
        yield b"first\n"
        time.sleep(pause)
        yield b"second\n"

    return Response(generate(), mimetype="text/plain")


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


@app.get("/block")
def block() -> ResponseReturnValue:
    time.sleep(request.args.get("seconds", 1.0, type=float))
    return jsonify(blocked=True)


@app.get("/fail-mid-stream")
def fail_mid_stream() -> ResponseReturnValue:
    def generate() -> Iterator[bytes]:
        yield b"partial output\n"
        raise RuntimeError("the generator failed after the response started")

    return Response(generate(), mimetype="text/plain")
