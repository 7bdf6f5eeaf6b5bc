"""The Grafana dashboard's JSON, read as Grafana imports it (no Grafana needed)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.deploy.dashboard import (
    Json,
    iter_panels,
    load_dashboard,
    panel_queries,
    query_panels,
    variable_query,
    variable_refs,
    variables,
)

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
GRAFANA_BUILTINS = {"__interval", "__interval_ms", "__rate_interval", "__range", "__range_s"}

# The gateway's metric contract: which metrics carry a route label. All carry `instance`.
ROUTE_METRICS = {
    "gateway_requests_total",
    "gateway_request_duration_seconds",
    "gateway_route_target",
    "gateway_route_effective_target",
    "gateway_canary_weight",
    "gateway_shadow_comparisons_total",
    "gateway_shadow_duration_seconds",
    "gateway_fallbacks_total",
    "gateway_rollbacks_total",
}
INSTANCE_METRICS = {
    "gateway_requests_in_progress",
    "gateway_config_reloads_total",
    "gateway_config_last_reload_successful",
    "gateway_config_last_reload_success_timestamp_seconds",
    "gateway_route_table_entries",
    "gateway_wsgi_rejected_total",
}
HISTOGRAMS = {"gateway_request_duration_seconds", "gateway_shadow_duration_seconds"}
_SELECTOR = re.compile(r"\b(gateway_\w+)\s*(\{[^}]*\})?")


@pytest.fixture(scope="module")
def dashboard() -> Json:
    return load_dashboard()


def metric_of(name: str) -> str:
    for suffix in ("_bucket", "_count", "_sum"):
        base = name.removesuffix(suffix)
        if base in HISTOGRAMS:
            return base
    return name


def selectors(expr: str) -> Iterator[tuple[str, str]]:
    for match in _SELECTOR.finditer(expr):
        yield metric_of(match.group(1)), match.group(2) or ""


def datasources(node: Any) -> Iterator[Any]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource":
                yield value
            else:
                yield from datasources(value)
    elif isinstance(node, list):
        for item in node:
            yield from datasources(item)


def test_dashboard_is_importable(dashboard: Json) -> None:
    assert 36 <= dashboard["schemaVersion"] <= 41
    assert dashboard["uid"] and dashboard["title"]
    assert dashboard.get("id") is None, "an exported id would clash with the importing Grafana's"
    ids = [panel["id"] for panel in iter_panels(dashboard)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in iter_panels(dashboard):
        assert {"h", "w", "x", "y"} <= panel["gridPos"].keys(), panel["title"]
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]


def test_datasource_is_the_datasource_variable(dashboard: Json) -> None:
    variable = variables(dashboard)["datasource"]
    assert (variable["type"], variable["query"]) == ("datasource", "prometheus")
    builtin_annotations = {"type": "grafana", "uid": "-- Grafana --"}
    hard_coded = [
        ds for ds in datasources(dashboard) if ds not in (DATASOURCE, builtin_annotations)
    ]
    assert hard_coded == [], "every panel, target and variable must use ${datasource}"
    for panel in query_panels(dashboard):
        assert panel["datasource"] == DATASOURCE, panel["title"]


def test_route_and_instance_variables(dashboard: Json) -> None:
    found = variables(dashboard)
    route, instance = found["route"], found["instance"]
    assert re.fullmatch(
        r"label_values\(gateway_requests_total(\{[^}]*\})?, route\)", variable_query(route)
    )
    assert re.fullmatch(
        r"label_values\(gateway_\w+(\{[^}]*\})?, instance\)", variable_query(instance)
    )
    for variable in (route, instance):
        assert variable["type"] == "query"
        assert variable["datasource"] == DATASOURCE
        assert variable["multi"] and variable["includeAll"], variable["name"]
        # With "All", a regex matching everything rather than a list of every value.
        assert variable["allValue"] == ".*", variable["name"]


def test_every_panel_has_queries(dashboard: Json) -> None:
    for panel in query_panels(dashboard):
        targets = panel.get("targets", [])
        assert targets, f"panel {panel['title']!r} has no targets"
        ref_ids = [target["refId"] for target in targets]
        assert len(ref_ids) == len(set(ref_ids)), f"panel {panel['title']!r}: duplicate refId"
        for target in targets:
            assert target.get("expr", "").strip(), f"panel {panel['title']!r}: empty query"
            assert target["datasource"] == DATASOURCE, panel["title"]


def test_every_variable_is_used(dashboard: Json) -> None:
    texts = [query.expr for query in panel_queries(dashboard)]
    for panel in iter_panels(dashboard):
        texts += [panel.get("title", ""), "$" + panel.get("repeat", "")]
        texts += [str(ds.get("uid", "")) for ds in datasources(panel) if isinstance(ds, dict)]
    texts += [variable_query(variable) for variable in variables(dashboard).values()]
    used = set().union(*(variable_refs(text) for text in texts))
    assert set(variables(dashboard)) - used == set()


def test_queries_refer_to_known_variables_only(dashboard: Json) -> None:
    known = set(variables(dashboard)) | GRAFANA_BUILTINS
    for query in panel_queries(dashboard):
        assert variable_refs(query.expr) <= known, query.describe()


def test_queries_filter_by_route_and_instance(dashboard: Json) -> None:
    for query in panel_queries(dashboard):
        found = list(selectors(query.expr))
        assert found, f"{query.describe()}: no gateway metric"
        for metric, matchers in found:
            assert metric in ROUTE_METRICS | INSTANCE_METRICS, f"{query.describe()}: {metric}?"
            assert 'instance=~"$instance"' in matchers, f"{query.describe()}: {metric}"
            if metric in ROUTE_METRICS:
                assert 'route=~"$route"' in matchers, f"{query.describe()}: {metric}"


def test_every_metric_is_shown(dashboard: Json) -> None:
    shown = {metric for query in panel_queries(dashboard) for metric, _ in selectors(query.expr)}
    assert (ROUTE_METRICS | INSTANCE_METRICS) - shown == set()
