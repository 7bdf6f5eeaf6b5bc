"""The Kubernetes store and lock never wait for ever on an API server that stops answering: a
controller stuck in a read would hold no lease, decide nothing, and ignore SIGTERM."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.rollout.kubernetes import configmap_store, lease_lock
from tests.servers import bin_path, free_port

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "{server}"}}}}]
users: [{{name: u, user: {{token: not-a-real-token}}}}]
contexts: [{{name: x, context: {{cluster: c, user: u, namespace: gateway}}}}]
current-context: x
"""


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts connections and reads requests, and never answers."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    accepted: list[socket.socket] = []

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            accepted.append(connection)

    thread = threading.Thread(target=accept, name="silent-apiserver")
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(10)
        for connection in accepted:
            connection.close()
        server.close()


def test_a_silent_api_server_is_an_error_not_a_wait(
    silent_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "config").write_text(KUBECONFIG.format(server=silent_server), encoding="utf-8")
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "config"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    store = configmap_store("gateway/gateway-routes/routes.yaml", timeout=0.5)
    lock = lease_lock("gateway/gateway-rollout", holder="me", timeout=0.5)
    failures: list[BaseException] = []

    def call_both() -> None:
        for call in (store.read, lock.acquire):
            try:
                call()
            except Exception as exc:  # what the controller's loop logs and survives
                failures.append(exc)

    caller = threading.Thread(target=call_both, name="kubernetes-calls", daemon=True)
    caller.start()
    caller.join(60)  # generous: a few retries of half a second each; without a bound, never
    assert not caller.is_alive(), "a call to a silent API server waited for ever"
    assert len(failures) == 2


def test_one_pass_against_an_unreachable_api_server_says_why_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(KUBECONFIG.format(server=f"http://127.0.0.1:{free_port()}"), "utf-8")
    env = {k: v for k, v in os.environ.items() if k != "KUBERNETES_SERVICE_HOST"}
    argv = [bin_path("gateway"), "rollout", "run", "--once"]
    argv += ["--metrics", f"http://127.0.0.1:{free_port()}/metrics"]
    argv += ["--configmap", "gateway/gateway-routes/routes.yaml", "--lease", "gateway/rollout"]
    done = subprocess.run(
        argv, env={**env, "KUBECONFIG": str(config)}, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1
    # urllib3 logs its retries first; then the reason, on one line.
    assert "\nerror: the pass failed: MaxRetryError: " in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
