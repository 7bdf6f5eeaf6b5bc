"""Ratios against the issue's targets, and the Markdown, JSON and PNG reports."""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from bench.setups import SETUPS

Metric = Literal["rps", "p99_ms"]


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


@dataclass(frozen=True)
class Target:
    key: str
    description: str
    numerator: str
    denominator: str
    metric: Metric
    at_least: float | None = None
    at_most: float | None = None

    def met(self, value: float) -> bool:
        if self.at_least is not None and value < self.at_least:
            return False
        return self.at_most is None or value <= self.at_most

    @property
    def wanted(self) -> str:
        return f">= {self.at_least}" if self.at_least is not None else f"<= {self.at_most}"


TARGETS: tuple[Target, ...] = (
    Target(
        "legacy_vs_gunicorn",
        "gateway legacy / gunicorn, req/s",
        "gateway_legacy",
        "gunicorn",
        "rps",
        at_least=1.3,
    ),
    Target(
        "legacy_vs_naive",
        "gateway legacy / naive a2wsgi mount, req/s",
        "gateway_legacy",
        "naive",
        "rps",
        at_least=2.0,
    ),
    Target(
        "legacy_p99_vs_gunicorn",
        "gateway legacy / gunicorn, p99",
        "gateway_legacy",
        "gunicorn",
        "p99_ms",
        at_most=1.5,
    ),
    Target(
        "new_vs_uvicorn",
        "gateway new / bare uvicorn, req/s",
        "gateway_new",
        "uvicorn_new",
        "rps",
        at_least=0.95,
    ),
    Target(
        "table5000_legacy",
        "5,000-entry table / small table, legacy, req/s",
        "gateway5000_legacy",
        "gateway_legacy",
        "rps",
        at_least=0.95,
    ),
    Target(
        "table5000_new",
        "5,000-entry table / small table, new, req/s",
        "gateway5000_new",
        "gateway_new",
        "rps",
        at_least=0.95,
    ),
)
INFORMATIONAL: tuple[Target, ...] = (
    Target(
        "default_threads_vs_gunicorn",
        "gateway legacy, 16 threads / gunicorn, req/s (no target)",
        "gateway_legacy_default_threads",
        "gunicorn",
        "rps",
    ),
    Target(
        "naive_vs_gunicorn",
        "naive a2wsgi mount / gunicorn, req/s (no target)",
        "naive",
        "gunicorn",
        "rps",
    ),
)


def per_round(runs: Sequence[Run], target: Target) -> list[float]:
    by_key = {(run.round, run.setup): run for run in runs}
    ratios = []
    for number in sorted({run.round for run in runs}):
        top, bottom = (
            by_key.get((number, target.numerator)),
            by_key.get((number, target.denominator)),
        )
        if top is not None and bottom is not None and getattr(bottom, target.metric) > 0:
            ratios.append(getattr(top, target.metric) / getattr(bottom, target.metric))
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
        }
        if target in TARGETS:
            entry.update(target=target.wanted, met=target.met(median))
        ratios[target.key] = entry
    return {"meta": meta, "setups": setups, "ratios": ratios, "runs": [asdict(r) for r in runs]}


def markdown(summary: dict[str, Any]) -> str:
    meta = summary["meta"]
    lines = [
        f"Run {meta['date']} on {meta['cpus']} CPUs ({meta['platform']}), "
        f"`wrk -t1 -c{meta['connections']}`, {meta['rounds']} interleaved rounds of "
        f"{meta['duration']} s per setup; medians over rounds.",
        "",
        "| setup | req/s (median) | req/s (min-max) | p50 ms | p99 ms | peak RSS MiB | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in summary["setups"].values():
        lines.append(
            f"| {row['label']} | {row['rps_median']:,.0f} | {row['rps_min']:,.0f}-"
            f"{row['rps_max']:,.0f} | {row['p50_ms_median']:.2f} | {row['p99_ms_median']:.2f} | "
            f"{row['peak_rss_mib']:.0f} | {row['errors']} |"
        )
    lines += [
        "",
        "| ratio (in-round) | per round | median | target | result |",
        "| --- | --- | ---: | --- | --- |",
    ]
    for ratio in summary["ratios"].values():
        rounds = ", ".join(f"{value:.2f}" for value in ratio["per_round"])
        result = ("PASS" if ratio["met"] else "FAIL") if "met" in ratio else "-"
        lines.append(
            f"| {ratio['description']} | {rounds} | {ratio['median']:.2f} | "
            f"{ratio.get('target', '-')} | {result} |"
        )
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
