"""`python -m bench.run`: interleaved wrk rounds over the setups, then the reports.

Absolute numbers on a shared 2-core machine move by 30% from run to run (field notes), so the
targets are judged on ratios between setups measured in the same round, one right after the
other, and each round starts with a different setup so no setup always runs first or last.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.report import GROUPS, TARGETS, Run, markdown, setups_of, summarize, write_reports
from bench.servers import PeakMemory, Server, bin_path, start_all
from bench.setups import SERVERS, SETUPS, Setup, server_specs
from bench.tables import write_tables
from bench.wrk import run_wrk, wrk_path
from legacy_app.db import init_db

RESULTS = Path(__file__).resolve().parent / "results"
README = Path(__file__).resolve().parent / "README.md"
README_START, README_END = "<!-- bench:start -->", "<!-- bench:end -->"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds (default 4)")
    parser.add_argument("--duration", type=float, default=8, help="seconds of load per setup")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of load before round 1")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where reports go")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=GROUPS + [s.key for s in SETUPS],
        help="groups of ratios (every setup they compare) or single setups",
    )
    parser.add_argument(
        "--update-readme", action="store_true", help="put the table in bench/README.md"
    )
    parser.add_argument(
        "--profile",
        choices=[s.key for s in SETUPS],
        help="record a py-spy profile of this setup's server during its first-round run",
    )
    return parser.parse_args(argv)


def seed_databases(folder: Path, names: Sequence[str]) -> dict[str, Path]:
    """One seeded SQLite database, copied for each server so none waits on another's locks."""
    seed = folder / "seed.db"
    init_db(f"sqlite:///{seed}").dispose()
    copies = {}
    for name in names:
        copies[name] = folder / f"{name}.db"
        shutil.copyfile(seed, copies[name])
    return copies


def check(setup: Setup, server: Server) -> None:
    """The setup answers 200 from the side it is meant to measure."""
    response = httpx.get(server.base_url + setup.path, headers=setup.headers, timeout=10)
    side = response.headers.get("x-gateway-side")
    if response.status_code != 200 or (setup.side is not None and side != setup.side):
        raise RuntimeError(
            f"{setup.key}: GET {setup.path} answered {response.status_code} from side {side!r}, "
            f"expected 200 from {setup.side or 'the server itself'}: {response.text[:300]}"
        )


def measure(setup: Setup, server: Server, round_number: int, args: argparse.Namespace) -> Run:
    cpu_before = server.cpu_seconds()
    with PeakMemory(server) as memory:
        result = run_wrk(
            server.base_url + setup.path,
            duration=args.duration,
            connections=args.connections,
            headers=setup.headers,
        )
    cpu = server.cpu_seconds() - cpu_before
    return Run(
        round=round_number,
        setup=setup.key,
        rps=result.requests_per_second,
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
        requests=result.requests,
        errors=result.errors,
        peak_rss_mib=memory.peak / 2**20,
        cpu_us=cpu / result.requests * 1e6 if result.requests else 0.0,
    )


def profiled(server: Server, seconds: float, output: Path) -> subprocess.Popen[bytes]:
    """py-spy on the server for `seconds`, sampling only the thread holding the GIL."""
    argv = [bin_path("py-spy"), "record", "--pid", str(server.process.pid), "--gil"]
    argv += ["--duration", str(max(1, int(seconds))), "--format", "raw", "--output", str(output)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run_rounds(
    setups: Sequence[Setup], servers: dict[str, Server], args: argparse.Namespace
) -> list[Run]:
    runs: list[Run] = []
    for round_number in range(1, args.rounds + 1):
        shift = (round_number - 1) % len(setups)
        for setup in [*setups[shift:], *setups[:shift]]:
            server = servers[setup.server]
            spy = None
            if args.profile == setup.key and round_number == 1:
                spy = profiled(server, args.duration, args.output / f"profile-{setup.key}.txt")
            run = measure(setup, server, round_number, args)
            if spy is not None:
                spy.wait(60)
            runs.append(run)
            print(
                f"round {round_number} {setup.key:<20} {run.rps:>9,.0f} req/s  "
                f"cpu {run.cpu_us:6.0f} µs/req  "
                f"p50 {run.p50_ms:6.2f} ms  p99 {run.p99_ms:7.2f} ms  "
                f"rss {run.peak_rss_mib:5.0f} MiB  errors {run.errors}",
                flush=True,
            )
    return runs


def meta(args: argparse.Namespace) -> dict[str, Any]:
    wrk_version = subprocess.run([wrk_path(), "--version"], capture_output=True, text=True)
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": os.cpu_count(),
        "platform": f"{platform.system()} {platform.machine()}, Python {platform.python_version()}",
        "wrk": (wrk_version.stdout or wrk_version.stderr).splitlines()[0],
        "rounds": args.rounds,
        "duration": args.duration,
        "connections": args.connections,
        "load_average_at_start": os.getloadavg(),
    }


def update_readme(table: str) -> None:
    text = README.read_text(encoding="utf-8")
    start, end = text.index(README_START) + len(README_START), text.index(README_END)
    README.write_text(text[:start] + "\n" + table + text[end:], encoding="utf-8")


def chosen(only: Sequence[str] | None) -> list[Setup]:
    """The setups `--only` names, directly or through a group, in the benchmark's order."""
    if only is None:
        return list(SETUPS)
    keys = setups_of(only) | set(only)
    return [setup for setup in SETUPS if setup.key in keys]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    wrk_path()
    setups = chosen(args.only)
    args.output.mkdir(parents=True, exist_ok=True)
    info = meta(args)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as scratch:
        folder = Path(scratch)
        tables = write_tables(folder)
        databases = seed_databases(folder, SERVERS)
        needed = {s.server for s in setups}
        specs = [spec for spec in server_specs(databases, tables) if spec.name in needed]
        servers = start_all(specs, folder)
        try:
            for setup in setups:
                check(setup, servers[setup.server])
                if args.warmup > 0:
                    run_wrk(
                        servers[setup.server].base_url + setup.path,
                        duration=args.warmup,
                        connections=args.connections,
                        headers=setup.headers,
                    )
            runs = run_rounds(setups, servers, args)
        finally:
            for server in servers.values():
                server.stop()
    summary = summarize(runs, {**info, "seconds": round(time.monotonic() - started)})
    paths = write_reports(summary, args.output)
    table = markdown(summary)
    print("\n" + table)
    if args.update_readme:
        update_readme(table)
    for path in paths.values():
        print(f"wrote {path}")
    failed = [t.key for t in TARGETS if not summary["ratios"].get(t.key, {}).get("met", True)]
    print("targets: " + ("all met" if not failed else "not met: " + ", ".join(failed)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
