"""A corpus app served two ways from its own virtualenv: alone by gunicorn, as its team runs it
today, and through `gateway serve` (the checkout's gateway) with the app as the legacy side."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.corpus.environments import AppEnv
from tests.servers import ServerProcess, free_port, run_server

READY_SECONDS = 120.0  # an app's first import on a loaded machine (archivy's takes seconds)


class InventoryFailed(RuntimeError):
    """`gateway inventory` exited with an error: its output's tail."""


@contextmanager
def alone(
    env: AppEnv, wsgi: str, *, cwd: Path, extra: Mapping[str, str], health_path: str
) -> Iterator[ServerProcess]:
    """The app alone, in gunicorn's one sync worker (no gateway code on its path, unless
    `extra` puts the repository there for an app whose entry point lives in tests/corpus)."""
    port = free_port()
    argv = [env.bin("gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "1", wsgi]
    variables = {**env.env(), "PYTHONPATH": "", **extra}
    with run_server(
        argv,
        port=port,
        env=variables,
        cwd=cwd,
        health_path=health_path,
        ready_timeout=READY_SECONDS,
    ) as server:
        yield server


@contextmanager
def through_gateway(
    env: AppEnv,
    wsgi: str,
    routes: Path,
    *,
    cwd: Path,
    extra: Mapping[str, str],
    new_app: str = "",
    health_path: str = "/metrics",
) -> Iterator[ServerProcess]:
    """`gateway serve` with the app as the legacy side (and `new_app`, when given)."""
    port = free_port()
    argv = [env.bin("gateway"), "serve", "--port", str(port), "--routes-file", str(routes)]
    argv += ["--legacy-app", wsgi]
    variables = env.env(**extra, GATEWAY_NEW_APP=new_app)
    with run_server(
        argv,
        port=port,
        env=variables,
        cwd=cwd,
        health_path=health_path,
        ready_timeout=READY_SECONDS,
    ) as server:
        yield server


def gateway_command(
    env: AppEnv, command: str, wsgi: str, routes: Path, *, cwd: Path, extra: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    """`gateway check`, `routes`, `inventory`... in the app's environment, legacy side only."""
    argv = [env.bin("gateway"), *command.split(), "--routes-file", str(routes)]
    argv += ["--legacy-app", wsgi]
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        cwd=cwd,
        # A plain traceback, should one come: Typer draws boxes of them otherwise.
        env={
            **_base_env(),
            **env.env(**{"GATEWAY_NEW_APP": "", "_TYPER_STANDARD_TRACEBACK": "1", **extra}),
        },
        timeout=300,
    )


def inventory(
    env: AppEnv, wsgi: str, routes: Path, *, cwd: Path, extra: Mapping[str, str]
) -> dict[tuple[str, str], dict[str, Any]]:
    """`gateway inventory --format json`, by (method, path template)."""
    done = gateway_command(env, "inventory --format json", wsgi, routes, cwd=cwd, extra=extra)
    if done.returncode != 0:
        # Each expectation then fails saying why (a strict xfail where a miss is known).
        raise InventoryFailed(done.stderr[-3000:])
    document = json.loads(done.stdout)
    return {(row["method"], row["path"]): row for row in document["endpoints"]}


def _base_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONWARNINGS", None)
    return env


def openapi(
    env: AppEnv, wsgi: str, routes: Path, *, cwd: Path, extra: Mapping[str, str]
) -> dict[str, Any]:
    """`gateway openapi`: the merged document."""
    done = gateway_command(env, "openapi", wsgi, routes, cwd=cwd, extra=extra)
    assert done.returncode == 0, done.stderr[-3000:]
    document: dict[str, Any] = json.loads(done.stdout)
    return document
