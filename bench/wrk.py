"""Running wrk (Debian's package) and reading its report."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_PERCENTILE = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", re.MULTILINE)
_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_REQUESTS = re.compile(r"^\s*(\d+) requests in", re.MULTILINE)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_STATUS = re.compile(r"^status (\d+) (\d+)$", re.MULTILINE)  # printed by bench/status.lua
STATUS_SCRIPT = Path(__file__).resolve().parent / "status.lua"
_MAX_LATENCY = re.compile(r"^\s*Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s|m)\s", re.MULTILINE)
_SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


class WrkError(RuntimeError):
    pass


@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float
    requests: int
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx/3xx answers and socket errors (timeouts, resets)
    socket_errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)  # with STATUS_SCRIPT only
    # wrk's socket errors by kind: connect, read, write, timeout (no answer within 5 s)
    socket_error_kinds: dict[str, int] = field(default_factory=dict)
    max_ms: float = 0.0  # the slowest answer


def wrk_path() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise WrkError("wrk is not installed: apt-get install -y wrk")
    return found


def run_wrk(
    url: str,
    *,
    duration: float,
    connections: int,
    threads: int = 1,
    headers: Mapping[str, str] | None = None,
    script: Path | None = None,
) -> WrkResult:
    argv = [
        wrk_path(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        "--latency",
        "--timeout",
        "5s",
    ]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    if script is not None:
        argv += ["-s", str(script)]
    argv.append(url)
    completed = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 30)
    if completed.returncode != 0:
        raise WrkError(f"wrk failed ({completed.returncode}): {completed.stderr.strip()}")
    return parse_wrk(completed.stdout)


def parse_wrk(output: str) -> WrkResult:
    rps = _RPS.search(output)
    requests = _REQUESTS.search(output)
    percentiles = {int(m[1]): float(m[2]) * _UNITS[m[3]] for m in _PERCENTILE.finditer(output)}
    if rps is None or requests is None or set(percentiles) != {50, 99}:
        raise WrkError(f"cannot read wrk's report:\n{output}")
    errors = sum(int(m[1]) for m in _NON_2XX.finditer(output))
    found = _SOCKET_ERRORS.search(output)
    kinds = ("connect", "read", "write", "timeout")
    socket_kinds = dict(zip(kinds, map(int, found.groups()), strict=True)) if found else {}
    socket_errors = sum(socket_kinds.values())
    slowest = _MAX_LATENCY.search(output)
    statuses: dict[int, int] = {}
    for match in _STATUS.finditer(output):
        statuses[int(match[1])] = statuses.get(int(match[1]), 0) + int(match[2])
    return WrkResult(
        float(rps[1]),
        int(requests[1]),
        percentiles[50],
        percentiles[99],
        errors + socket_errors,
        socket_errors,
        statuses,
        {kind: count for kind, count in socket_kinds.items() if count},
        float(slowest[1]) * _UNITS[slowest[2]] if slowest else 0.0,
    )
