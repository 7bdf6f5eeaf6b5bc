"""The setups of the benchmark (server + request), grouped by the question they answer.

Every server runs without an access log (gunicorn's and granian's default; the gateway's JSON
access log and uvicorn's are switched off), so what is measured is the serving machinery.

The gateway's headline rows run its DEFAULT settings (adaptive WSGI concurrency up to 16
threads, the default queue bounds): what a user gets. Rows marked "fixed" pin the thread
count (`GATEWAY_WSGI_CONCURRENCY=fixed`), for comparison: 1 thread is what gunicorn's one sync
worker runs; 16 threads is the old default.

The I/O-bound rows have a gateway of their own: the adaptive limit follows the traffic a
process gets, and the rounds switch between endpoints every few seconds, which no real
traffic does (the controller re-measures its baseline every 10 s: a CPU-bound endpoint run
right after I/O-bound ones runs on more threads until then).

The legacy app is `bench.legacy:app` everywhere: the example plus a `/bench/io` endpoint that
waits 20 ms. `/health` (a `SELECT 1` on SQLite and a JSON answer) is the CPU-bound endpoint.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench.legacy import IO_PATH
from bench.servers import ServerSpec, bin_path
from bench.tables import LEGACY_PATH, NEW_PATH, Tables

TOKEN = {"X-Token": "admin-token"}
UVICORN_FLAGS = ("--no-access-log", "--loop", "uvloop", "--http", "httptools")
LEGACY_APP = "bench.legacy:app"


@dataclass(frozen=True)
class Setup:
    key: str
    label: str
    server: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    side: str | None = None  # the X-Gateway-Side the gateway must answer with


def _legacy(key: str, label: str, server: str, path: str = LEGACY_PATH) -> Setup:
    return Setup(key, label, server, path, side="legacy" if "gateway" in server else None)


SETUPS: tuple[Setup, ...] = (
    # A CPU-bound legacy endpoint.
    _legacy("gunicorn", "gunicorn, 1 sync worker, CPU-bound", "gunicorn"),
    _legacy("granian", "granian WSGI, 1 worker, CPU-bound", "granian"),
    _legacy("gateway_legacy", "gateway (default), legacy CPU-bound", "gateway"),
    _legacy("gateway_legacy_fixed1", "gateway, fixed 1 thread, CPU-bound", "gateway_fixed1"),
    _legacy("gateway_legacy_fixed16", "gateway, fixed 16 threads, CPU-bound", "gateway_fixed16"),
    _legacy("naive", "FastAPI + a2wsgi mount, CPU-bound", "naive"),
    # An I/O-bound legacy endpoint (waits 20 ms).
    _legacy("gthread_io", "gunicorn gthread 16 threads, I/O-bound", "gunicorn_gthread", IO_PATH),
    _legacy("gateway_io", "gateway (default), legacy I/O-bound", "gateway_io", IO_PATH),
    _legacy(
        "gateway_io_fixed16", "gateway, fixed 16 threads, I/O-bound", "gateway_fixed16", IO_PATH
    ),
    # The new side, and the example's /api/me on both sides.
    Setup("uvicorn_new", "uvicorn, FastAPI /api/me", "uvicorn_new", NEW_PATH, TOKEN),
    Setup("gateway_new", "gateway (default), new route /api/me", "gateway", NEW_PATH, TOKEN, "new"),
    # The same route with the new app served by uvicorn over HTTP (GATEWAY_NEW_URL): the cost
    # of a side in its own process, both processes measured as one server.
    Setup(
        "gateway_new_http",
        "gateway (default), new route /api/me over HTTP",
        "gateway_http",
        NEW_PATH,
        TOKEN,
        "new",
    ),
    Setup("gunicorn_me", "gunicorn, 1 sync worker, Flask /api/me", "gunicorn", NEW_PATH, TOKEN),
    Setup(
        "gateway_me_legacy",
        "gateway (default), legacy /api/me",
        "gateway_unshadowed",
        NEW_PATH,
        TOKEN,
        "legacy",
    ),
    # The same route shadowed: legacy answers, new gets a copy of every request.
    Setup(
        "gateway_shadow",
        "gateway (default), /api/me shadowed 100%",
        "gateway_shadowed",
        NEW_PATH,
        TOKEN,
        "legacy",
    ),
    # The same again with the parity ledger off: what recording the comparisons costs.
    Setup(
        "gateway_shadow_noledger",
        "gateway, /api/me shadowed 100%, ledger off",
        "gateway_shadowed_noledger",
        NEW_PATH,
        TOKEN,
        "legacy",
    ),
    # A 5,000-entry table.
    _legacy("gateway5000_legacy", "gateway (default), 5,000 routes, legacy", "gateway5000"),
    Setup(
        "gateway5000_new",
        "gateway (default), 5,000 routes, new",
        "gateway5000",
        NEW_PATH,
        TOKEN,
        "new",
    ),
    # Two worker processes each.
    _legacy("gunicorn_w2", "gunicorn, 2 sync workers, CPU-bound", "gunicorn_w2"),
    _legacy("gateway_w2", "gateway (default) --workers 2, CPU-bound", "gateway_w2"),
)


def _gateway(name: str, table: Path, env: dict[str, str], workers: int = 1) -> ServerSpec:
    argv = (
        bin_path("gateway"),
        "serve",
        "--port",
        "{port}",
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--routes-file",
        str(table),
        "--legacy-app",
        LEGACY_APP,
        "--new-app",
        "new_app.main:app",
    )
    return ServerSpec(name, argv, {**env, "GATEWAY_ACCESS_LOG": "false"}, "/health")


def server_specs(databases: dict[str, Path], tables: Tables) -> list[ServerSpec]:
    """One spec per server; each gets its own copy of the seeded database (`databases`)."""

    def env(name: str) -> dict[str, str]:
        return {"HELPDESK_DATABASE_URL": f"sqlite:///{databases[name]}"}

    def fixed(name: str, threads: int) -> dict[str, str]:
        pinned = {"GATEWAY_WSGI_CONCURRENCY": "fixed", "GATEWAY_WSGI_THREADS": str(threads)}
        return {**env(name), **pinned}

    def gunicorn(name: str, *flags: str) -> ServerSpec:
        argv = (bin_path("gunicorn"), *flags, "-b", "127.0.0.1:{port}", LEGACY_APP)
        return ServerSpec(name, argv, env(name), "/health")

    uvicorn = (bin_path("uvicorn"), "--port", "{port}", *UVICORN_FLAGS)
    granian = (
        *(bin_path("granian"), "--interface", "wsgi", "--workers", "1", "--no-log"),
        *("--host", "127.0.0.1", "--port", "{port}", LEGACY_APP),
    )
    return [
        gunicorn("gunicorn", "-w", "1", "-k", "sync"),
        gunicorn("gunicorn_gthread", "-w", "1", "-k", "gthread", "--threads", "16"),
        gunicorn("gunicorn_w2", "-w", "2", "-k", "sync"),
        ServerSpec("granian", granian, env("granian"), "/health"),
        ServerSpec("naive", (*uvicorn, "bench.naive:app"), env("naive"), "/health"),
        ServerSpec("uvicorn_new", (*uvicorn, "new_app.main:app"), env("uvicorn_new"), "/health"),
        _gateway("gateway", tables.small, env("gateway")),
        _gateway("gateway_io", tables.small, env("gateway_io")),
        _gateway("gateway_fixed1", tables.small, fixed("gateway_fixed1", 1)),
        _gateway("gateway_fixed16", tables.small, fixed("gateway_fixed16", 16)),
        _gateway("gateway5000", tables.large, env("gateway5000")),
        _gateway("gateway_unshadowed", tables.unshadowed, env("gateway_unshadowed")),
        _gateway("gateway_shadowed", tables.shadowed, env("gateway_shadowed")),
        _gateway(
            "gateway_shadowed_noledger",
            tables.shadowed,
            {**env("gateway_shadowed_noledger"), "GATEWAY_LEDGER": "false"},
        ),
        _gateway("gateway_w2", tables.small, env("gateway_w2"), workers=2),
        ServerSpec(
            "gateway_http",
            (
                *(sys.executable, "-m", "bench.http_pair", "--port", "{port}"),
                *("--routes-file", str(tables.small), "--legacy-app", LEGACY_APP),
            ),
            {**env("gateway_http"), "GATEWAY_ACCESS_LOG": "false"},
            "/health",
        ),
    ]


SERVERS = sorted({setup.server for setup in SETUPS})
