"""The six setups of the benchmark (and one more, for information), and their servers.

Every server runs one process and no access log (gunicorn's default; the gateway's JSON access
log and uvicorn's are switched off), so what is measured is the serving machinery. The gateway
setups share one process per route table: the legacy and the new route of a table are asked
of the same gateway, at different times.

The gateways of the six setups run one WSGI thread (`GATEWAY_WSGI_THREADS=1`): like gunicorn's
one sync worker, they run one Flask call at a time, so the comparison is like for like. Python
threads share one GIL: more threads only help when the app waits on I/O, and for this
CPU-bound endpoint each extra thread adds GIL hand-overs. The extra setup shows the gateway with
the default thread count, so that cost is in the report too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bench.servers import ServerSpec, bin_path
from bench.tables import LEGACY_PATH, NEW_PATH

TOKEN = {"X-Token": "admin-token"}
UVICORN_FLAGS = ("--no-access-log", "--loop", "uvloop", "--http", "httptools")


@dataclass(frozen=True)
class Setup:
    key: str
    label: str
    server: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    side: str | None = None  # the X-Gateway-Side the gateway must answer with


SETUPS: tuple[Setup, ...] = (
    Setup("gunicorn", "gunicorn, 1 sync worker (legacy)", "gunicorn", LEGACY_PATH),
    Setup("naive", "FastAPI + a2wsgi mount (legacy)", "naive", LEGACY_PATH),
    Setup("gateway_legacy", "gateway, legacy route", "gateway", LEGACY_PATH, side="legacy"),
    Setup("uvicorn_new", "uvicorn, new app (new)", "uvicorn_new", NEW_PATH, TOKEN),
    Setup("gateway_new", "gateway, new route", "gateway", NEW_PATH, TOKEN, side="new"),
    Setup(
        "gateway5000_legacy",
        "gateway, 5,000 routes, legacy route",
        "gateway5000",
        LEGACY_PATH,
        side="legacy",
    ),
    Setup(
        "gateway5000_new",
        "gateway, 5,000 routes, new route",
        "gateway5000",
        NEW_PATH,
        TOKEN,
        side="new",
    ),
    Setup(
        "gateway_legacy_default_threads",
        "gateway, legacy route, 16 threads (default)",
        "gateway_default_threads",
        LEGACY_PATH,
        side="legacy",
    ),
)


def server_specs(
    databases: dict[str, Path], small_table: Path, large_table: Path
) -> list[ServerSpec]:
    """One spec per server; each gets its own copy of the seeded database (`databases`)."""

    def env(name: str) -> dict[str, str]:
        return {"HELPDESK_DATABASE_URL": f"sqlite:///{databases[name]}"}

    def gateway(name: str, table: Path, threads: int | None = 1) -> ServerSpec:
        argv = (
            bin_path("gateway"),
            "serve",
            "--port",
            "{port}",
            "--log-level",
            "warning",
            "--routes-file",
            str(table),
            "--legacy-app",
            "legacy_app.wsgi:app",
            "--new-app",
            "new_app.main:app",
        )
        settings = {**env(name), "GATEWAY_ACCESS_LOG": "false"}
        if threads is not None:
            settings["GATEWAY_WSGI_THREADS"] = str(threads)
        return ServerSpec(name, argv, settings, "/health")

    gunicorn = (bin_path("gunicorn"), "-w", "1", "-k", "sync", "-b", "127.0.0.1:{port}")
    uvicorn = (bin_path("uvicorn"), "--port", "{port}", *UVICORN_FLAGS)
    return [
        ServerSpec("gunicorn", (*gunicorn, "legacy_app.wsgi:app"), env("gunicorn"), "/health"),
        ServerSpec("naive", (*uvicorn, "bench.naive:app"), env("naive"), "/health"),
        gateway("gateway", small_table),
        ServerSpec("uvicorn_new", (*uvicorn, "new_app.main:app"), env("uvicorn_new"), "/health"),
        gateway("gateway5000", large_table),
        gateway("gateway_default_threads", small_table, threads=None),
    ]
