"""CPU time per request of the gateway called directly over ASGI: no server, no socket.

    python -m bench.inprocess [--requests N] [--log | --no-log]

The gateway is built by `create_app` around two tiny apps (a FastAPI endpoint for the new
side, a Flask one for the legacy side) and called N times per route with one request each
time; the process CPU time per request (the least of 5 batches) is the gateway's cost plus
the app's. Run it once per
change and compare within one run: load on the machine moves the absolute figures, and the
bare app (`bare new`, `bare legacy`) is measured in the same run for the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import logging.config
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from flask import Flask
from prometheus_client import CollectorRegistry
from starlette.types import Message

new_app = FastAPI()
legacy_app = Flask("bench_legacy")


@new_app.get("/new")
async def new_endpoint() -> dict[str, str]:
    return {"hello": "world"}


@legacy_app.get("/legacy")
def legacy_endpoint() -> dict[str, str]:
    return {"hello": "world"}


ROUTES = "routes:\n  - {path: /new, target: new}\n  - {path: /legacy, target: legacy}\n"


def _scope(path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"bench"), (b"user-agent", b"bench")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def _measure(app: Any, path: str, requests: int) -> float:
    """CPU microseconds per request of `requests` sequential calls (after a warm-up)."""

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    statuses: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    for _ in range(200):
        await app(_scope(path), receive, send)
    if requests == 0:  # a baseline for instruction counts: startup alone
        return 0.0
    # The least of 5 batches: load from elsewhere only ever adds time.
    batch = max(1, requests // 5)
    spent = []
    for _ in range(5):
        started = time.process_time()
        for _ in range(batch):
            await app(_scope(path), receive, send)
        spent.append(time.process_time() - started)
    if set(statuses) != {200}:
        raise SystemExit(f"{path}: statuses {sorted(set(statuses))}")
    return min(spent) / batch * 1e6


async def _run(requests: int, access_log: bool, only: str | None) -> dict[str, float]:
    from a2wsgi import WSGIMiddleware

    from gateway.app import create_app
    from gateway.settings import GatewaySettings

    folder = Path(tempfile.mkdtemp(prefix="bench-inprocess-"))
    (folder / "routes.yaml").write_text(ROUTES, encoding="utf-8")
    settings = GatewaySettings(
        routes_file=folder / "routes.yaml",
        legacy_app="bench.inprocess:legacy_app",
        new_app="bench.inprocess:new_app",
        watch_routes=False,
        ledger=False,
        access_log=access_log,
    )
    gateway = create_app(settings, registry=CollectorRegistry())
    lifespan: asyncio.Queue[Message] = asyncio.Queue()
    answers: asyncio.Queue[Message] = asyncio.Queue()
    life = asyncio.create_task(
        gateway(
            {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, lifespan.get, answers.put
        )
    )
    await lifespan.put({"type": "lifespan.startup"})
    await answers.get()
    apps = {
        "bare new": (new_app, "/new"),
        "gateway new": (gateway, "/new"),
        "bare legacy (a2wsgi)": (WSGIMiddleware(legacy_app), "/legacy"),  # type: ignore[arg-type]
        "gateway legacy": (gateway, "/legacy"),
    }
    figures = {
        name: await _measure(app, path, requests)
        for name, (app, path) in apps.items()
        if only is None or name.startswith(only)
    }
    await lifespan.put({"type": "lifespan.shutdown"})
    await life
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--log", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--only", help="measure the setups whose name starts with this")
    args = parser.parse_args()
    if args.log:  # the lines go nowhere: what is measured is making and writing them
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
        from gateway.cli import log_config

        logging.config.dictConfig(log_config("warning"))  # as `gateway serve` configures it
    figures = asyncio.run(_run(args.requests, args.log, args.only))
    with open(2, "w", closefd=False) as out:
        for name, micros in figures.items():
            out.write(f"{name:24} {micros:8.1f} µs/request\n")


if __name__ == "__main__":
    main()
