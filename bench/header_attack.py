"""A normal client's throughput while an attacker sends huge forwarding headers, on loopback.

`python -m bench.header_attack [--runs 5] [--seconds 4]`: for each attack, `gateway serve` (one
worker, default head limits, 127.0.0.1 a trusted proxy) is started; each run measures one
client's sequential keep-alive requests for `seconds` alone, then as long again beside the
attack (each attack request on a new connection, at its rate). It prints the ratio, attacked
over alone, per run and its median, with the load average before and after.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.servers import Server, ServerSpec, bin_path

ROUTES = "default: legacy\nroutes:\n  - path: /api/items\n    target: legacy\n"
NORMAL_PATH = "/api/items"


@dataclass(frozen=True)
class Attack:
    name: str
    header: str  # the setting GATEWAY_FORWARDED_HEADER and the header sent
    size: int  # bytes of the header's value
    rate: float  # requests per second

    def request(self) -> bytes:
        hop = "for=10.0.0.1, " if self.header == "forwarded" else "10.0.0.1, "
        value = (hop * (self.size // len(hop) + 1))[: self.size].rstrip(", ")
        return (
            f"GET {NORMAL_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            f"{self.header}: {value}\r\n\r\n"
        ).encode("latin-1")


ATTACKS = (
    Attack("Forwarded 226 KB at 8/s", "forwarded", 226 * 1024, 8),
    Attack("X-Forwarded-For 786 KB at 5/s", "x-forwarded-for", 786 * 1024, 5),
    Attack("Forwarded 31 KB at 100/s", "forwarded", 31 * 1024, 100),
    Attack("X-Forwarded-For 31 KB at 100/s", "x-forwarded-for", 31 * 1024, 100),
)


def send_one(port: int, request: bytes) -> None:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(request)
            while sock.recv(65536):
                pass
    except OSError:
        pass  # refused midway (431 and a close): what an attacker gets


@contextmanager
def attacking(port: int, attack: Attack) -> Iterator[None]:
    """Start one request every 1/rate s, each in its own thread, until the block ends."""
    stop = threading.Event()
    request = attack.request()

    def pace() -> None:
        next_at = time.monotonic()
        while not stop.is_set():
            threading.Thread(target=send_one, args=(port, request), daemon=True).start()
            next_at += 1 / attack.rate
            stop.wait(max(0.0, next_at - time.monotonic()))

    pacer = threading.Thread(target=pace, daemon=True)
    pacer.start()
    try:
        yield
    finally:
        stop.set()
        pacer.join(10)


def throughput(client: httpx.Client, seconds: float) -> float:
    done = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        client.get(NORMAL_PATH).raise_for_status()
        done += 1
    return done / seconds


def measure(attack: Attack, runs: int, seconds: float, folder: Path) -> list[float]:
    routes = folder / "routes.yaml"
    routes.write_text(ROUTES, encoding="utf-8")
    spec = ServerSpec(
        name="gateway",
        argv=(bin_path("gateway"), "serve", "--port", "{port}", "--routes-file", str(routes)),
        env={
            "GATEWAY_LEGACY_APP": "tests.gateway.sample_apps:flask_app",
            "GATEWAY_NEW_APP": "tests.gateway.sample_apps:fastapi_app",
            "GATEWAY_FORWARDED_ALLOW_IPS": "127.0.0.1",
            "GATEWAY_FORWARDED_HEADER": attack.header,
            "GATEWAY_ACCESS_LOG": "false",
        },
        health_path="/metrics",
    )
    server = Server(spec, folder)
    ratios = []
    try:
        server.wait_ready()
        with httpx.Client(base_url=server.base_url, timeout=30) as client:
            throughput(client, 1.0)  # warm up
            for _ in range(runs):
                alone = throughput(client, seconds)
                with attacking(server.port, attack):
                    attacked = throughput(client, seconds)
                ratios.append(attacked / alone)
    finally:
        server.stop()
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=4.0)
    options = parser.parse_args()
    for attack in ATTACKS:
        load_before = os.getloadavg()[0]
        with tempfile.TemporaryDirectory(prefix="header-attack-") as folder:
            ratios = measure(attack, options.runs, options.seconds, Path(folder))
        shown = " ".join(f"{ratio:.0%}" for ratio in ratios)
        print(
            f"{attack.name}: median {statistics.median(ratios):.0%} ({shown}); "
            f"load {load_before:.1f}-{os.getloadavg()[0]:.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
