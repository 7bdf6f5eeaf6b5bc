"""Differential conformance: the same WSGI apps under gunicorn and under the gateway.

gunicorn (1 sync worker) is the reference: the Flask app has run under it, so whatever it does
is what the app's clients know. Every case of the corpus is sent byte for byte to both servers
(raw sockets: no client-side normalising) and the answers must have the same status, the same
headers in the same order and the same body bytes, except:

- headers each server writes itself and that describe the connection, not the resource:
  Date, Server, Connection, Keep-Alive, Transfer-Encoding;
- the gateway adds X-Gateway-Side and X-Request-ID to every answer (dispatcher.py), on purpose;
- header names are compared in lowercase: uvicorn writes them in lowercase, gunicorn as the app
  gave them (HTTP header names are case-insensitive);
- the cases with a `Difference` (corpus.py), each saying why.

The edge app runs at the root and under a root path: gunicorn takes the prefix from SCRIPT_NAME
and is sent `/prefix/...`; the gateway takes it from `--root-path` and, as behind a proxy that
strips it, is sent the bare path.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conformance.corpus import CASES, LEGACY_CASES, Case
from tests.conformance.edge_app import FILES_ENV, pattern
from tests.conformance.raw_http import Headers, Reply, request
from tests.helpdesk import app_env, copy_database, seed_database
from tests.servers import ServerProcess, bin_path, free_port, run_server

CONNECTION_HEADERS = {b"date", b"server", b"connection", b"keep-alive", b"transfer-encoding"}
GATEWAY_HEADERS = {b"x-gateway-side", b"x-request-id"}
# Sent with every request: a fixed Host, so absolute URLs match whatever the ports, and a
# request id, so the gateway keeps it instead of making one up.
COMMON_HEADERS = ((b"Host", b"conformance.test"), (b"X-Request-ID", b"conformance"))
# Flask builds some headers from sets (Allow): one hash seed makes both processes list them alike.
SERVER_ENV = {"PYTHONHASHSEED": "0"}
EDGE_APP = "tests.conformance.edge_app:app"
ROUTES = "default: legacy\nroutes: []\n"


@dataclass(frozen=True)
class Pair:
    gunicorn: ServerProcess
    gateway: ServerProcess
    prefix: bytes  # the root path, put in front of the target for gunicorn only


def gunicorn_argv(port: int, app: str) -> list[str]:
    return [bin_path("gunicorn"), "-w", "1", "-k", "sync", "-b", f"127.0.0.1:{port}", app]


def gateway_argv(port: int, app: str, routes_file: Path, root_path: str = "") -> list[str]:
    return [
        bin_path("gateway"),
        "serve",
        "--port",
        str(port),
        "--root-path",
        root_path,
        "--routes-file",
        str(routes_file),
        "--legacy-app",
        app,
        "--new-app",
        "tests.gateway.sample_apps:fastapi_app",
    ]


def start_pair(
    stack: ExitStack,
    app: str,
    env: dict[str, str],
    routes_file: Path,
    health_path: str,
    root_path: str = "",
) -> Pair:
    gunicorn_port, gateway_port = free_port(), free_port()
    gunicorn_env = {**env, "SCRIPT_NAME": root_path} if root_path else env
    reference = stack.enter_context(
        run_server(
            gunicorn_argv(gunicorn_port, app),
            port=gunicorn_port,
            env=gunicorn_env,
            health_path=root_path + health_path,
        )
    )
    candidate = stack.enter_context(
        run_server(
            gateway_argv(gateway_port, app, routes_file, root_path),
            port=gateway_port,
            # gunicorn trusts X-Forwarded-* from 127.0.0.1 by default (its
            # forwarded_allow_ips); the gateway trusts no proxy unless told: tell it the same.
            env={
                **env,
                "GATEWAY_WATCH_ROUTES": "false",
                "GATEWAY_FORWARDED_ALLOW_IPS": "127.0.0.1",
            },
            health_path=health_path,
        )
    )
    return Pair(reference, candidate, root_path.encode())


@pytest.fixture(scope="module")
def routes_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("routes") / "routes.yaml"
    path.write_text(ROUTES, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def edge_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("edge-files")
    (folder / "small.bin").write_bytes(pattern(10_000))
    (folder / "large.bin").write_bytes(pattern(3_000_000))
    (folder / "text.txt").write_text("plain text, naïve\n" * 50, encoding="utf-8")
    return folder


@pytest.fixture(scope="module", params=["", "/prefix"], ids=["root", "root-path"])
def edge(request: pytest.FixtureRequest, routes_file: Path, edge_files: Path) -> Iterator[Pair]:
    with ExitStack() as stack:
        env = {**SERVER_ENV, FILES_ENV: str(edge_files)}
        yield start_pair(stack, EDGE_APP, env, routes_file, "/echo", request.param)


@pytest.fixture(scope="module")
def legacy(tmp_path_factory: pytest.TempPathFactory, routes_file: Path) -> Iterator[Pair]:
    folder = tmp_path_factory.mktemp("helpdesk")
    seeded = seed_database(folder / "seed.db")
    envs = [
        {**SERVER_ENV, **app_env(copy_database(seeded, folder / f"{name}.db"))}
        for name in ("a", "b")
    ]
    with ExitStack() as stack:
        gunicorn_port, gateway_port = free_port(), free_port()
        reference = stack.enter_context(
            run_server(
                gunicorn_argv(gunicorn_port, "legacy_app.wsgi:app"),
                port=gunicorn_port,
                env=envs[0],
                health_path="/health",
            )
        )
        candidate = stack.enter_context(
            run_server(
                gateway_argv(gateway_port, "legacy_app.wsgi:app", routes_file),
                port=gateway_port,
                env={**envs[1], "GATEWAY_WATCH_ROUTES": "false"},
                health_path="/health",
            )
        )
        yield Pair(reference, candidate, b"")


def ask_both(pair: Pair, case: Case) -> tuple[Reply, Reply]:
    headers = (*COMMON_HEADERS, *case.headers)
    return (
        request(
            pair.gunicorn.port,
            case.method,
            pair.prefix + case.target,
            headers,
            case.body,
            case.chunks,
        ),
        request(pair.gateway.port, case.method, case.target, headers, case.body, case.chunks),
    )


def comparable_headers(reply: Reply) -> Headers:
    ignored = CONNECTION_HEADERS | GATEWAY_HEADERS
    return [(name, value) for name, value in reply.headers if name not in ignored]


def describe(body: bytes) -> str:
    if len(body) <= 600:
        return repr(body)
    sha = hashlib.sha256(body).hexdigest()[:16]
    return f"{len(body)} bytes, sha256 {sha}, starting {body[:200]!r}"


def assert_same(case: Case, reference: Reply, candidate: Reply) -> None:
    assert candidate.header(b"x-request-id") == b"conformance"
    if case.difference is not None:
        assert case.difference.holds(reference, candidate), (
            f"expected difference no longer holds ({case.difference.why}):\n"
            f"gunicorn: {reference.status} {describe(reference.body)}\n"
            f"gateway:  {candidate.status} {describe(candidate.body)}"
        )
        return
    assert candidate.header(b"x-gateway-side") == b"legacy"
    assert candidate.status == reference.status, describe(candidate.body)
    assert comparable_headers(candidate) == comparable_headers(reference)
    assert candidate.body == reference.body, (
        f"gunicorn: {describe(reference.body)}\ngateway:  {describe(candidate.body)}"
    )


@pytest.mark.parametrize("case", [pytest.param(case, id=case.id) for case in CASES])
def test_edge_app(edge: Pair, case: Case) -> None:
    assert_same(case, *ask_both(edge, case))


@pytest.mark.parametrize("case", [pytest.param(case, id=case.id) for case in LEGACY_CASES])
def test_legacy_app(legacy: Pair, case: Case) -> None:
    assert_same(case, *ask_both(legacy, case))


def test_corpus_size() -> None:
    """The issue asks for at least 60 requests compared byte for byte."""
    compared = [case for case in CASES + LEGACY_CASES if case.difference is None]
    assert len(compared) >= 60
    assert len({case.id for case in CASES}) == len(CASES)
