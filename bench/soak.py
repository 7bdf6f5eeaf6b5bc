"""`python -m bench.soak`: the example under overload and over time, with default settings.

Not a timed test: a run to read. The shipped example (`config/routes.yaml`, both example apps,
a seeded SQLite file) is served by `gateway serve` with the settings a user gets, except the
access log (hundreds of thousands of lines would only measure the disk). Then:

1. Load: for a legacy, a new and a shadowed route in turn, `wrk -c200` for `--load` seconds
   (60 by default); every answer's status is counted (bench/status.lua). The only non-2xx
   answers allowed are the gateway's own 503s (the legacy side at capacity). After each run, a
   request must be answered at once: the gateway recovers when the load stops.
2. The same load again: resident memory after the second round against after the first; it
   must grow by less than 5% (a leak grows with the requests served).
3. Soak: `--soak` seconds (600 by default) of moderate load (-c32) over the three routes in
   turn, memory sampled every 10 s.

It prints a Markdown report and writes bench/results/soak.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.run import seed_databases
from bench.servers import Server, ServerSpec, bin_path
from bench.wrk import STATUS_SCRIPT, WrkResult, run_wrk

RESULTS = Path(__file__).resolve().parent / "results"
TOKEN = {"X-Token": "admin-token"}
# (label, path, the side the shipped table sends it to)
ROUTES = (
    ("legacy", "/api/users", "legacy"),
    ("new", "/api/me", "new"),
    ("shadow", "/api/tickets/1/comments", "legacy"),
)
MAX_RSS_GROWTH = 0.05
BRIDGE_METRICS = (
    "gateway_wsgi_rejected_total",
    "gateway_wsgi_queue_timeouts_total",
    "gateway_wsgi_concurrency_limit",
)


@dataclass
class LoadRun:
    route: str
    path: str
    round: int
    requests_per_second: float
    requests: int
    p99_ms: float
    statuses: dict[int, int]
    socket_errors: int
    socket_error_kinds: dict[str, int]
    unexpected: int  # answers that are neither 2xx nor the gateway's own 503
    recovered_ms: float  # a request right after the load stopped
    rss_mib: float
    max_ms: float = 0.0  # the slowest answer
    # The bridge's own figures after the run (cumulative): 503s for a full queue, 503s after
    # GATEWAY_WSGI_QUEUE_TIMEOUT, and its concurrency limit at the end.
    bridge: dict[str, float] = field(default_factory=dict)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--load", type=float, default=60.0, help="seconds of each wrk -c200 run")
    parser.add_argument("--soak", type=float, default=600.0, help="seconds of the soak")
    parser.add_argument("--connections", type=int, default=200)
    return parser.parse_args(argv)


def start_gateway(folder: Path) -> Server:
    database = seed_databases(folder, ["gateway"])["gateway"]
    env = {
        "HELPDESK_DATABASE_URL": f"sqlite:///{database}",
        "GATEWAY_ACCESS_LOG": "false",
    }
    argv = (bin_path("gateway"), "serve", "--port", "{port}")
    server = Server(ServerSpec("gateway", argv, env, "/health"), folder)
    server.wait_ready()
    return server


def answered_at_once(server: Server, path: str, side: str) -> float:
    """Milliseconds a request takes right after a load; fails if the answer is wrong."""
    started = time.perf_counter()
    response = httpx.get(server.base_url + path, headers=TOKEN, timeout=10)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200 or response.headers.get("x-gateway-side") != side:
        raise RuntimeError(f"after the load, {path} answered {response.status_code}")
    return elapsed


def bridge_figures(server: Server) -> dict[str, float]:
    text = httpx.get(server.base_url + "/metrics", timeout=10).text
    figures = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in BRIDGE_METRICS:
            figures[name.removeprefix("gateway_wsgi_")] = float(value)
    return figures


def unexpected(result: WrkResult) -> int:
    own_503 = result.statuses.get(503, 0)
    non_2xx = sum(count for status, count in result.statuses.items() if status >= 300)
    return non_2xx - own_503 + result.socket_errors


def load_round(server: Server, round_number: int, args: argparse.Namespace) -> list[LoadRun]:
    runs = []
    for label, path, side in ROUTES:
        result = run_wrk(
            server.base_url + path,
            duration=args.load,
            connections=args.connections,
            headers=TOKEN,
            script=STATUS_SCRIPT,
        )
        recovered = answered_at_once(server, path, side)
        run = LoadRun(
            label,
            path,
            round_number,
            result.requests_per_second,
            result.requests,
            result.p99_ms,
            result.statuses,
            result.socket_errors,
            result.socket_error_kinds,
            unexpected(result),
            recovered,
            server.rss_bytes() / 2**20,
            result.max_ms,
            bridge_figures(server),
        )
        print(f"  round {round_number} {label:<6} {path}: {_describe(run)}", flush=True)
        runs.append(run)
    return runs


def soak(server: Server, seconds: float) -> dict[str, object]:
    rss = [server.rss_bytes() / 2**20]
    requests = unexpected_answers = 0
    deadline = time.monotonic() + seconds
    turn = 0
    while time.monotonic() < deadline:
        _, path, _ = ROUTES[turn % len(ROUTES)]
        result = run_wrk(
            server.base_url + path,
            duration=min(10.0, max(1.0, deadline - time.monotonic())),
            connections=32,
            headers=TOKEN,
            script=STATUS_SCRIPT,
        )
        requests += result.requests
        unexpected_answers += unexpected(result)
        rss.append(server.rss_bytes() / 2**20)
        turn += 1
    return {
        "seconds": seconds,
        "requests": requests,
        "unexpected": unexpected_answers,
        "rss_start_mib": rss[0],
        "rss_end_mib": rss[-1],
        "rss_max_mib": max(rss),
    }


def _describe(run: LoadRun) -> str:
    statuses = ", ".join(f"{status}: {count}" for status, count in sorted(run.statuses.items()))
    return (
        f"{run.requests_per_second:,.0f} req/s, p99 {run.p99_ms:.0f} ms, {statuses}, "
        f"socket errors {run.socket_errors} {run.socket_error_kinds or ''}, "
        f"slowest {run.max_ms:.0f} ms, then answered in {run.recovered_ms:.0f} ms, "
        f"RSS {run.rss_mib:.0f} MiB, bridge {run.bridge}"
    )


def report(runs: list[LoadRun], soaked: dict[str, object], growth: float) -> str:
    lines = [
        "| round | route | req/s | p99 ms | max ms | 2xx | gateway 503 | other errors "
        "| next request ms | RSS MiB |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for run in runs:
        ok = sum(count for status, count in run.statuses.items() if status < 300)
        lines.append(
            f"| {run.round} | {run.route} `{run.path}` | {run.requests_per_second:,.0f} | "
            f"{run.p99_ms:.0f} | {run.max_ms:,.0f} | {ok:,} | {run.statuses.get(503, 0):,} | "
            f"{run.unexpected} | "
            f"{run.recovered_ms:.0f} | {run.rss_mib:.0f} |"
        )
    lines.append("")
    lines.append(f"RSS growth from round 1 to round 2: {growth:+.1%} (limit {MAX_RSS_GROWTH:.0%}).")
    lines.append(
        f"Soak: {soaked['seconds']:.0f} s, {soaked['requests']:,} requests, "
        f"{soaked['unexpected']} unexpected answers, RSS {soaked['rss_start_mib']:.0f} -> "
        f"{soaked['rss_end_mib']:.0f} MiB (max {soaked['rss_max_mib']:.0f})."
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="gateway-soak-") as temp:
        server = start_gateway(Path(temp))
        try:
            runs = load_round(server, 1, args) + load_round(server, 2, args)
            print(f"  soak for {args.soak:.0f} s", flush=True)
            soaked = soak(server, args.soak)
        finally:
            server.stop()
    first, second = runs[len(ROUTES) - 1].rss_mib, runs[-1].rss_mib
    growth = second / first - 1
    text = report(runs, soaked, growth)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "soak.json").write_text(
        json.dumps(
            {
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "runs": [asdict(run) for run in runs],
                "soak": soaked,
                "rss_growth": growth,
            },
            indent=2,
        )
    )
    failed = any(run.unexpected for run in runs) or soaked["unexpected"] or growth > MAX_RSS_GROWTH
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
