"""`python -m bench.http_pair --port P --routes-file F`: the gateway with its new side over HTTP.

The benchmark's HTTP-side row: the new app served by uvicorn on a port of its own, and the
gateway serving it through GATEWAY_NEW_URL, both children of this process so the benchmark
measures the pair as one server (its memory counts both). SIGTERM stops both.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from types import FrameType

import httpx

from bench.servers import bin_path, free_port

UVICORN_FLAGS = ("--no-access-log", "--loop", "uvloop", "--http", "httptools")


def wait_ready(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.http_pair", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--routes-file", required=True)
    parser.add_argument("--legacy-app", required=True)
    args = parser.parse_args(argv)
    upstream = free_port()
    service = subprocess.Popen(
        [bin_path("uvicorn"), "--port", str(upstream), *UVICORN_FLAGS, "new_app.main:app"]
    )
    wait_ready(f"http://127.0.0.1:{upstream}/health")
    env = {**os.environ, "GATEWAY_NEW_URL": f"http://127.0.0.1:{upstream}", "GATEWAY_NEW_APP": ""}
    gateway = subprocess.Popen(
        [
            *(bin_path("gateway"), "serve", "--port", str(args.port), "--log-level", "warning"),
            *("--routes-file", args.routes_file, "--legacy-app", args.legacy_app),
        ],
        env=env,
    )
    children = (gateway, service)

    def stop(signum: int, frame: FrameType | None) -> None:
        for child in children:
            child.terminate()

    signal.signal(signal.SIGTERM, stop)
    code = gateway.wait()
    stop(signal.SIGTERM, None)
    service.wait(15)
    return code


if __name__ == "__main__":
    sys.exit(main())
