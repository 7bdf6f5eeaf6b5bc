"""Ratios against the targets, and the Markdown, JSON and PNG reports."""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from bench.setups import SETUPS

Metric = Literal["rps", "p99_ms", "cpu_us"]


@dataclass(frozen=True)
class Run:
    round: int
    setup: str
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    peak_rss_mib: float
    cpu_us: float = 0.0  # CPU time of the server's process tree per request, microseconds


@dataclass(frozen=True)
class Target:
    key: str
    description: str
    numerator: str
    denominator: str
    metric: Metric
    at_least: float | None = None
    at_most: float | None = None
    group: str = ""  # what `--only GROUP` runs: every setup of the group's ratios
    difference: bool = False  # numerator minus denominator, rather than their ratio
    means: str = ""  # what the figure says, for the reader of the report

    def met(self, value: float) -> bool:
        if self.at_least is not None and value < self.at_least:
            return False
        return self.at_most is None or value <= self.at_most

    def missed_by(self, value: float) -> float:
        """How far `value` is from the target (0 when met)."""
        if self.at_least is not None and value < self.at_least:
            return self.at_least - value
        if self.at_most is not None and value > self.at_most:
            return value - self.at_most
        return 0.0

    @property
    def wanted(self) -> str:
        return f">= {self.at_least}" if self.at_least is not None else f"<= {self.at_most}"


def _ratio(
    key: str,
    description: str,
    top: str,
    bottom: str,
    group: str,
    at_least: float | None = None,
    means: str = "",
) -> Target:
    return Target(key, description, top, bottom, "rps", at_least=at_least, group=group, means=means)


TARGETS: tuple[Target, ...] = (
    _ratio(
        "new_vs_uvicorn",
        "new route / bare uvicorn (no access log), req/s",
        "gateway_new",
        "uvicorn_new",
        "new",
        0.70,
        "what the gateway, every feature and its access log on, leaves of uvicorn's speed",
    ),
    _ratio(
        "new_vs_uvicorn_log",
        "new route / uvicorn with its own access log, req/s",
        "gateway_new",
        "uvicorn_new_log",
        "new",
        0.95,
        "the like-for-like comparison: both write one access line per request",
    ),
    _ratio(
        "legacy_vs_granian",
        "legacy light endpoint / granian WSGI, req/s",
        "gateway_legacy",
        "granian",
        "cpu",
        0.9,
        "the gateway's WSGI bridge against the fastest WSGI server (Rust)",
    ),
    _ratio(
        "legacy_vs_gunicorn",
        "legacy light endpoint / gunicorn sync, req/s",
        "gateway_legacy",
        "gunicorn",
        "cpu",
        1.5,
        "against what most legacy apps run on today",
    ),
    _ratio(
        "legacy_cpu_vs_gunicorn",
        "legacy CPU-bound (400 sha256) / gunicorn sync, req/s",
        "gateway_cpu",
        "gunicorn_cpu",
        "sha",
        1.3,
        "the same where the app's own work is a larger share",
    ),
    Target(
        "access_log_cost",
        "access log cost: CPU µs per request, log on minus off (new route)",
        "gateway_new",
        "gateway_new_nolog",
        "cpu_us",
        at_most=10.0,
        group="new",
        difference=True,
        means="what one JSON access line costs the server",
    ),
    _ratio(
        "gateway_me_vs_flask_me",
        "example /api/me: FastAPI through the gateway / Flask under gunicorn, req/s",
        "gateway_new",
        "gunicorn_me",
        "me",
        1.3,
        "what a migrated endpoint gains, the gateway included",
    ),
    _ratio(
        "io_vs_gthread",
        "legacy I/O-bound / gunicorn gthread 16, req/s",
        "gateway_io",
        "gthread_io",
        "io",
        1.0,
        "both bound by 16 threads x 20 ms: the gateway loses none of it",
    ),
    _ratio(
        "fastapi_me_vs_flask_me",
        "example FastAPI /api/me (uvicorn) / Flask /api/me (gunicorn), req/s",
        "uvicorn_new",
        "gunicorn_me",
        "me",
        1.0,
        "a check of the example's rewrite, not of the gateway",
    ),
    _ratio(
        "shadowed_vs_unshadowed",
        "shadowed / unshadowed /api/me (primary), req/s",
        "gateway_shadow",
        "gateway_me_legacy",
        "shadow",
        0.85,
        "what copying every request to the other side costs the primary",
    ),
    _ratio(
        "table5000_legacy",
        "5,000-entry table / small table, legacy, req/s",
        "gateway5000_legacy",
        "gateway_legacy",
        "table",
        0.97,
        "the table's size does not show",
    ),
    _ratio(
        "table5000_new",
        "5,000-entry table / small table, new, req/s",
        "gateway5000_new",
        "gateway_new",
        "table",
        0.97,
        "the table's size does not show",
    ),
    _ratio(
        "workers2_vs_gunicorn2",
        "legacy CPU-bound, --workers 2 / gunicorn -w 2, req/s",
        "gateway_w2",
        "gunicorn_w2",
        "workers",
        1.5,
        "the light endpoint's target, with two worker processes",
    ),
)
INFORMATIONAL: tuple[Target, ...] = (
    _ratio(
        "shadow_ledger_on_vs_off",
        "shadowed, parity ledger on / off (primary)",
        "gateway_shadow",
        "gateway_shadow_noledger",
        "shadow",
    ),
    Target(
        "legacy_p99_vs_gunicorn",
        "legacy CPU-bound / gunicorn, p99 (no target)",
        "gateway_legacy",
        "gunicorn",
        "p99_ms",
        group="cpu",
    ),
    _ratio(
        "fixed1_vs_gunicorn",
        "fixed 1 thread / gunicorn, CPU-bound",
        "gateway_legacy_fixed1",
        "gunicorn",
        "cpu",
    ),
    _ratio(
        "fixed16_vs_gunicorn",
        "fixed 16 threads / gunicorn, CPU-bound",
        "gateway_legacy_fixed16",
        "gunicorn",
        "cpu",
    ),
    _ratio("granian_vs_gunicorn", "granian / gunicorn, CPU-bound", "granian", "gunicorn", "cpu"),
    _ratio(
        "legacy_vs_naive", "legacy CPU-bound / naive a2wsgi mount", "gateway_legacy", "naive", "cpu"
    ),
    _ratio(
        "io_fixed16_vs_gthread",
        "fixed 16 threads / gunicorn gthread 16, I/O-bound",
        "gateway_io_fixed16",
        "gthread_io",
        "io",
    ),
    _ratio(
        "gateway_me_legacy_vs_flask_me",
        "legacy /api/me via the gateway / Flask (gunicorn)",
        "gateway_me_legacy",
        "gunicorn_me",
        "me",
    ),
    _ratio(
        "uvicorn_log_vs_bare",
        "uvicorn with its access log / without, req/s",
        "uvicorn_new_log",
        "uvicorn_new",
        "new",
    ),
    _ratio(
        "gateway_log_on_vs_off",
        "gateway new route, access log on / off, req/s",
        "gateway_new",
        "gateway_new_nolog",
        "new",
    ),
    _ratio(
        "cpu_granian_vs_gunicorn",
        "granian / gunicorn, 400 sha256",
        "granian_cpu",
        "gunicorn_cpu",
        "sha",
    ),
    _ratio(
        "legacy_cpu_vs_granian",
        "legacy 400 sha256 / granian WSGI",
        "gateway_cpu",
        "granian_cpu",
        "sha",
    ),
)
GROUPS = sorted({target.group for target in TARGETS + INFORMATIONAL})


def setups_of(groups: Sequence[str]) -> set[str]:
    """The setups the ratios of `groups` compare."""
    wanted = [t for t in TARGETS + INFORMATIONAL if t.group in groups]
    return {t.numerator for t in wanted} | {t.denominator for t in wanted}


def per_round(runs: Sequence[Run], target: Target) -> list[float]:
    by_key = {(run.round, run.setup): run for run in runs}
    ratios = []
    for number in sorted({run.round for run in runs}):
        top, bottom = (
            by_key.get((number, target.numerator)),
            by_key.get((number, target.denominator)),
        )
        if top is None or bottom is None:
            continue
        high, low = getattr(top, target.metric), getattr(bottom, target.metric)
        if target.difference:
            ratios.append(high - low)
        elif low > 0:
            ratios.append(high / low)
    return ratios


def summarize(runs: Sequence[Run], meta: dict[str, Any]) -> dict[str, Any]:
    setups: dict[str, Any] = {}
    for setup in SETUPS:
        mine = [run for run in runs if run.setup == setup.key]
        if not mine:
            continue
        setups[setup.key] = {
            "label": setup.label,
            "rps_median": statistics.median(run.rps for run in mine),
            "rps_min": min(run.rps for run in mine),
            "rps_max": max(run.rps for run in mine),
            "p50_ms_median": statistics.median(run.p50_ms for run in mine),
            "p99_ms_median": statistics.median(run.p99_ms for run in mine),
            "peak_rss_mib": max(run.peak_rss_mib for run in mine),
            "cpu_us_median": statistics.median(run.cpu_us for run in mine),
            "errors": sum(run.errors for run in mine),
        }
    ratios: dict[str, Any] = {}
    for target in TARGETS + INFORMATIONAL:
        values = per_round(runs, target)
        if not values:
            continue
        median = statistics.median(values)
        entry: dict[str, Any] = {
            "description": target.description,
            "per_round": values,
            "median": median,
            "means": target.means,
        }
        if target in TARGETS:
            entry.update(
                target=target.wanted, met=target.met(median), missed_by=target.missed_by(median)
            )
        ratios[target.key] = entry
    return {"meta": meta, "setups": setups, "ratios": ratios, "runs": [asdict(r) for r in runs]}


def markdown(summary: dict[str, Any]) -> str:
    meta = summary["meta"]
    lines = [
        f"Run {meta['date']} on {meta['cpus']} CPUs ({meta['platform']}), "
        f"`wrk -t1 -c{meta['connections']}`, {meta['rounds']} interleaved rounds of "
        f"{meta['duration']} s per setup; medians over rounds"
        + (
            f"; load average {meta['load_average_at_start'][0]:.1f} at the start."
            if "load_average_at_start" in meta
            else "."
        ),
        "",
        "CPU µs/req is the CPU time of the server's whole process tree over the requests wrk "
        "counted: steadier than req/s on a loaded machine.",
        "",
        "| setup | req/s (median) | req/s (min-max) | CPU µs/req | p50 ms | p99 ms | "
        "peak RSS MiB | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in summary["setups"].values():
        lines.append(
            f"| {row['label']} | {row['rps_median']:,.0f} | {row['rps_min']:,.0f}-"
            f"{row['rps_max']:,.0f} | {row.get('cpu_us_median', 0):,.0f} | "
            f"{row['p50_ms_median']:.2f} | {row['p99_ms_median']:.2f} | "
            f"{row['peak_rss_mib']:.0f} | {row['errors']} |"
        )
    targets = [r for r in summary["ratios"].values() if "met" in r]
    others = [r for r in summary["ratios"].values() if "met" not in r]
    lines += [
        "",
        "Targets (ratios within each round; the median over rounds is judged):",
        "",
        "| target | what it means | per round | median | wanted | result |",
        "| --- | --- | --- | ---: | --- | --- |",
    ]
    for ratio in targets:
        rounds = ", ".join(f"{value:.2f}" for value in ratio["per_round"])
        result = "met" if ratio["met"] else f"missed by {ratio.get('missed_by', 0):.3f}"
        lines.append(
            f"| {ratio['description']} | {ratio.get('means', '')} | {rounds} | "
            f"{ratio['median']:.2f} | {ratio['target']} | {result} |"
        )
    lines += ["", "Other ratios (no target):", "", "| ratio | per round | median |"]
    lines.append("| --- | --- | ---: |")
    for ratio in others:
        rounds = ", ".join(f"{value:.2f}" for value in ratio["per_round"])
        lines.append(f"| {ratio['description']} | {rounds} | {ratio['median']:.2f} |")
    return "\n".join(lines) + "\n"


def chart(summary: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(summary["setups"].values())
    labels = [row["label"].replace(", ", ",\n", 1) for row in rows]
    medians = [row["rps_median"] for row in rows]
    low = [row["rps_median"] - row["rps_min"] for row in rows]
    high = [row["rps_max"] - row["rps_median"] for row in rows]
    figure, (throughput, latency) = plt.subplots(1, 2, figsize=(15, 6))
    colors = ["#888888" if "gateway" not in row["label"] else "#2a7ab0" for row in rows]
    throughput.barh(labels, medians, xerr=[low, high], color=colors)
    throughput.set_xlabel("requests/s (median, min-max over rounds)")
    throughput.invert_yaxis()
    latency.barh(labels, [row["p99_ms_median"] for row in rows], color=colors, alpha=0.4)
    latency.barh(labels, [row["p50_ms_median"] for row in rows], color=colors)
    latency.set_xlabel("latency ms, p50 (dark) and p99 (light), median over rounds")
    latency.invert_yaxis()
    figure.suptitle(f"Gateway benchmark, {summary['meta']['date']}")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def write_reports(summary: dict[str, Any], folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "markdown": folder / "latest.md",
        "json": folder / "latest.json",
        "chart": folder / "latest.png",
    }
    paths["markdown"].write_text(markdown(summary), encoding="utf-8")
    paths["json"].write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    chart(summary, paths["chart"])
    return paths
