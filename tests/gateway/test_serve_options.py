"""`gateway serve` with uvicorn's server options: --reload, --uds, TLS files, keep-alive."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.servers import bin_path, free_port
from tests.waiting import wait_for

TINY_APP = """\
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
    return [b"{answer}"]
"""


def write_app(folder: Path, answer: str) -> None:
    # A new file each time, not an edit in place: its mtime and size change with its content.
    staged = folder / "tiny_wsgi.py.new"
    staged.write_text(TINY_APP.format(answer=answer), encoding="utf-8")
    staged.replace(folder / "tiny_wsgi.py")


@contextmanager
def serving(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[Path]:
    """`gateway serve ARGS` of a one-file WSGI app in tmp_path/apps; yields its log's path."""
    apps = tmp_path / "apps"
    apps.mkdir(exist_ok=True)
    if not (apps / "tiny_wsgi.py").exists():
        write_app(apps, "one")
    (tmp_path / "routes.yaml").write_text("default: legacy\nroutes: []\n", encoding="utf-8")
    full_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")},
        "GATEWAY_LEGACY_APP": "tiny_wsgi:app",
        "GATEWAY_NEW_APP": "",
        "GATEWAY_ROUTES_FILE": str(tmp_path / "routes.yaml"),
        "GATEWAY_DATA_DIR": str(tmp_path / "data"),
        "GATEWAY_DRAIN_SECONDS": "0",
        **(env or {}),
    }
    full_env.pop("PYTHONWARNINGS", None)
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [bin_path("gateway"), "serve", "--app-dir", str(apps), *args],
            cwd=tmp_path,
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield log
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the reloader's child too
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def answer(client: httpx.Client, url: str) -> str | None:
    try:
        return client.get(url, timeout=5).text
    except httpx.TransportError:
        return None


def test_reload_restarts_on_a_code_change(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/anything"
    with serving(tmp_path, "--port", str(port), "--reload") as log, httpx.Client() as client:
        wait_for(lambda: answer(client, url) == "one", 60, "the first answer")
        write_app(tmp_path / "apps", "two")
        wait_for(lambda: answer(client, url) == "two", 60, "the answer of the edited app")
    text = log.read_text()
    assert "Will watch for changes in these directories" in text and str(tmp_path / "apps") in text
    assert "Reloading..." in text
    # Plain lines, uvicorn's included, start with their time.
    (line,) = [line for line in text.splitlines() if "Reloading..." in line]
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00 WARNING: ", line), line


def test_reload_runs_one_process(tmp_path: Path) -> None:
    done = subprocess.run(
        [bin_path("gateway"), "serve", "--reload", "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "--reload runs one process" in done.stderr


@pytest.mark.parametrize("workers", ["1", "2"])
def test_unix_domain_socket(tmp_path: Path, workers: str) -> None:
    socket_path = tmp_path / "gateway.sock"
    with serving(tmp_path, "--workers", workers, env={"GATEWAY_UDS": str(socket_path)}) as log:
        # Connecting before the socket exists leaks httpcore's socket: wait for the file.
        wait_for(socket_path.exists, 60, f"{socket_path} made by the server")
        transport = httpx.HTTPTransport(uds=str(socket_path))
        with httpx.Client(transport=transport, base_url="http://gateway") as client:
            response = client.get("/x")
    assert response.text == "one"
    assert response.headers["X-Gateway-Side"] == "legacy", log.read_text()


def self_signed(folder: Path) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command (Debian's openssl package)")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


@pytest.mark.parametrize("workers", ["1", "2"])
def test_tls(tmp_path: Path, workers: str) -> None:
    cert, key = self_signed(tmp_path)
    port = free_port()
    tls = ["--ssl-certfile", str(cert), "--ssl-keyfile", str(key)]
    with serving(tmp_path, "--port", str(port), "--workers", workers, *tls):
        with httpx.Client(verify=False) as client:
            url = f"https://127.0.0.1:{port}/x"
            wait_for(lambda: answer(client, url) == "one", 60, "an answer over TLS")
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/x", timeout=5)  # plain HTTP is not served


def test_timeout_keep_alive(tmp_path: Path) -> None:
    port = free_port()
    with serving(tmp_path, "--port", str(port), "--timeout-keep-alive", "1"):
        with httpx.Client() as client:
            wait_for(lambda: answer(client, f"http://127.0.0.1:{port}/x") == "one", 60, "ready")
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(b"GET /x HTTP/1.1\r\nHost: gateway\r\n\r\n")
            received = b""
            while not received.endswith(b"one"):
                received += sock.recv(65536)
            idle_since = time.monotonic()
            assert sock.recv(65536) == b""  # the server closed the idle connection
            idle = time.monotonic() - idle_since
    # uvicorn's default is 5 s; 1 s asked. Generous for a loaded machine, still below 5.
    assert 0.5 < idle < 4.5


def test_a_key_without_a_certificate_is_refused(tmp_path: Path) -> None:
    done = subprocess.run(
        [bin_path("gateway"), "serve", "--ssl-keyfile", str(tmp_path / "key.pem")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "--ssl-keyfile needs --ssl-certfile" in done.stderr
