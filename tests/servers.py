"""Real servers for the tests: a command started in a subprocess on a free loopback port.

Tests talk HTTP to what a user would run (uvicorn, gunicorn, `gateway serve`), never to an
in-process stand-in. Each server gets its own temporary directory and environment, so tests can
run side by side without sharing a database or a routes file.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
BIN_DIR = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    def __init__(self, process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
        self.process = process
        self.port = port
        self.log_path = log_path
        self.base_url = f"http://127.0.0.1:{port}"
        self.final_log: str | None = None  # kept once the server stopped and its folder went

    def log(self) -> str:
        if self.final_log is not None:
            return self.final_log
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def client(self, **kwargs: object) -> httpx.Client:
        # Plain HTTP on loopback: verify=False spares loading the CA bundle, which costs about
        # 18 ms per client (tests that open a client per request open hundreds).
        options: dict[str, object] = {"timeout": 10.0, "verify": False, **kwargs}
        return httpx.Client(base_url=self.base_url, **options)  # type: ignore[arg-type]

    def wait_ready(self, health_path: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.process.returncode} before it was ready:\n"
                    + self.log()
                )
            try:
                response = httpx.get(self.base_url + health_path, timeout=1.0, verify=False)
            except httpx.TransportError:
                time.sleep(0.05)
                continue
            if response.status_code < 500:
                return
            time.sleep(0.05)
        raise RuntimeError(f"server not ready after {timeout}s:\n" + self.log())

    def stop(self, timeout: float = 10.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        return self.process.returncode


@contextmanager
def run_server(
    argv: Sequence[str],
    *,
    port: int,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    health_path: str = "/",
    ready_timeout: float = 30.0,
) -> Iterator[ServerProcess]:
    """Start `argv` (which must listen on `port`), wait until `health_path` answers, yield it."""
    with tempfile.TemporaryDirectory(prefix="server-log-") as log_dir:
        # A server writes its data (the parity ledger) beside its log, not in the repository.
        # No drain on SIGTERM (its default is 5 s, for load balancers): tests stop servers often.
        defaults = {
            "PYTHONUNBUFFERED": "1",
            "GATEWAY_DATA_DIR": log_dir,
            "GATEWAY_DRAIN_SECONDS": "0",
        }
        full_env = {**os.environ, **defaults, **(env or {})}
        # The tests' own coverage or warning settings must not leak into the servers they start.
        full_env.pop("PYTHONWARNINGS", None)
        log_path = Path(log_dir) / "server.log"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                list(argv),
                cwd=cwd or REPO_ROOT,
                env=full_env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            server = ServerProcess(process, port, log_path)
            try:
                server.wait_ready(health_path, ready_timeout)
                yield server
            finally:
                server.stop()
                # What it logged while stopping stays readable after its folder is removed.
                server.final_log = server.log()


def bin_path(name: str) -> str:
    """A console script installed beside the interpreter running the tests."""
    return str(BIN_DIR / name)


SAMPLE_LEGACY = "tests.gateway.sample_apps:flask_app"
SAMPLE_NEW = "tests.gateway.sample_apps:fastapi_app"


@contextmanager
def run_gateway(
    routes_file: Path,
    *,
    legacy_app: str = SAMPLE_LEGACY,
    new_app: str = SAMPLE_NEW,
    workers: int = 1,
    env: Mapping[str, str] | None = None,
    health_path: str = "/metrics",
) -> Iterator[ServerProcess]:
    """`gateway serve` as a user runs it, on a free port."""
    port = free_port()
    argv = [
        bin_path("gateway"),
        "serve",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--routes-file",
        str(routes_file),
        "--legacy-app",
        legacy_app,
        "--new-app",
        new_app,
    ]
    with run_server(argv, port=port, env=env, health_path=health_path) as server:
        yield server


def raw_request(
    port: int, target: bytes, method: bytes = b"GET", headers: Sequence[bytes] = ()
) -> tuple[int, dict[str, str], bytes]:
    """Send one request with the target bytes exactly as given (no client-side normalising)."""
    lines = [method + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close"]
    request = b"\r\n".join([*lines, *headers, b"", b""])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    response_headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        response_headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), response_headers, body
