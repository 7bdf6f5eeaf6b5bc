"""The servers under test: each a process tree on a free loopback port, its peak memory watched."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

REPO_ROOT = Path(__file__).resolve().parent.parent
BIN_DIR = Path(sys.executable).parent


def bin_path(name: str) -> str:
    return str(BIN_DIR / name)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class ServerSpec:
    name: str
    argv: tuple[str, ...]  # "{port}" is replaced by the port
    env: Mapping[str, str]
    health_path: str


class Server:
    def __init__(self, spec: ServerSpec, log_dir: Path) -> None:
        self.spec = spec
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"{spec.name}.log"
        argv = [part.replace("{port}", str(self.port)) for part in spec.argv]
        # No drain on SIGTERM (5 s by default, for load balancers): nothing to drain here. The
        # gateway's own files (the parity ledger) go to the scratch folder, not the repository.
        data_dir = log_dir / f"{spec.name}-data"
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "GATEWAY_DRAIN_SECONDS": "0",
            "GATEWAY_DATA_DIR": str(data_dir),
            **spec.env,
        }
        env.pop("PYTHONWARNINGS", None)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                argv, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.spec.name} exited:\n{self.log()}")
            try:
                if httpx.get(self.base_url + self.spec.health_path, timeout=2).status_code < 500:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.spec.name} not ready after {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-4000:]

    def cpu_seconds(self) -> float:
        """User and system CPU time of the server and its children (gunicorn's workers)."""
        try:
            root = psutil.Process(self.process.pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0.0
        total = 0.0
        for process in processes:
            try:
                times = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return total

    def rss_bytes(self) -> int:
        """Resident memory of the server and its children (gunicorn's master and worker)."""
        try:
            root = psutil.Process(self.process.pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0
        total = 0
        for process in processes:
            try:
                total += process.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


class PeakMemory:
    """Samples a server's memory in a background thread while a load runs."""

    def __init__(self, server: Server, interval: float = 0.1) -> None:
        self.server = server
        self.interval = interval
        self.peak = server.rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self.server.rss_bytes())


def start_all(specs: Sequence[ServerSpec], log_dir: Path) -> dict[str, Server]:
    """Start every server at once (they boot in parallel), then wait for each."""
    servers = {spec.name: Server(spec, log_dir) for spec in specs}
    try:
        for server in servers.values():
            server.wait_ready()
    except BaseException:
        for server in servers.values():
            server.stop()
        raise
    return servers
