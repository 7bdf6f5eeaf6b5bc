"""Reading the Grafana dashboard in deploy/grafana: its panels, their queries, its variables."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.servers import REPO_ROOT

DEPLOY_DIR = REPO_ROOT / "deploy"
DASHBOARD_PATH = DEPLOY_DIR / "grafana" / "gateway-dashboard.json"
PROMETHEUS_DIR = DEPLOY_DIR / "prometheus"

# Grafana's spellings of a variable: $name, ${name}, ${name:format}, [[name]] (deprecated).
_VARIABLE_REF = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\$(\w+)|\[\[(\w+)\]\]")
_GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")

Json = dict[str, Any]


@dataclass(frozen=True)
class PanelQuery:
    panel: str
    ref_id: str
    expr: str

    def describe(self) -> str:
        return f"panel {self.panel!r}, query {self.ref_id}: {self.expr}"

    @property
    def grouped_by(self) -> set[str]:
        return {
            label.strip() for group in _GROUPING.findall(self.expr) for label in group.split(",")
        }


def load_dashboard(path: Path = DASHBOARD_PATH) -> Json:
    dashboard: Json = json.loads(path.read_text(encoding="utf-8"))
    return dashboard


def iter_panels(dashboard: Json) -> Iterator[Json]:
    """Every panel, rows included, also those inside a collapsed row."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def query_panels(dashboard: Json) -> list[Json]:
    return [panel for panel in iter_panels(dashboard) if panel.get("type") != "row"]


def panel_queries(dashboard: Json) -> list[PanelQuery]:
    return [
        PanelQuery(panel.get("title", "?"), target.get("refId", "?"), target.get("expr", ""))
        for panel in query_panels(dashboard)
        for target in panel.get("targets", [])
    ]


def variables(dashboard: Json) -> dict[str, Json]:
    return {variable["name"]: variable for variable in dashboard["templating"]["list"]}


def variable_query(variable: Json) -> str:
    query = variable.get("query", "")
    return str(query.get("query", "") if isinstance(query, dict) else query)


def variable_refs(text: str) -> set[str]:
    return {next(name for name in match if name) for match in _VARIABLE_REF.findall(text)}


def substitute(text: str, values: Mapping[str, str]) -> str:
    """`text` with every Grafana variable replaced; a variable not in `values` is a KeyError."""

    def replace(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group)
        return values[name]

    return _VARIABLE_REF.sub(replace, text)
