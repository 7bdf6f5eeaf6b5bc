"""The two manifests in deploy/kubernetes made from files kept elsewhere in the repository.

- `routes-configmap.yaml`: the routes ConfigMap, holding config/routes.yaml (comments and all)
  as its `routes.yaml` key, so the fleet starts from the table the container image ships.
- `prometheusrule.yaml`: the Prometheus Operator's PrometheusRule, whose groups are those of
  deploy/prometheus/alerts.yml, so the two never drift.

tests/deploy/test_kubernetes_manifests.py fails when either is stale; to write them again:

    python -m tests.deploy.kubernetes_generated
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.servers import REPO_ROOT

KUBERNETES_DIR = REPO_ROOT / "deploy" / "kubernetes"
ROUTES_SOURCE = REPO_ROOT / "config" / "routes.yaml"
ALERTS_SOURCE = REPO_ROOT / "deploy" / "prometheus" / "alerts.yml"
NAMESPACE = "gateway"
ROUTES_CONFIGMAP, ROUTES_KEY = "gateway-routes", "routes.yaml"
LABELS = {"app.kubernetes.io/name": "gateway", "app.kubernetes.io/part-of": "gateway"}


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (PromQL, the routes file) as literal blocks, readable in review."""


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _string)


def _dump(header: str, document: dict[str, Any]) -> str:
    body = yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=100)
    return header + body


def routes_configmap() -> str:
    document = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": ROUTES_CONFIGMAP,
            "namespace": NAMESPACE,
            "labels": {**LABELS, "app.kubernetes.io/component": "routes"},
        },
        "data": {ROUTES_KEY: ROUTES_SOURCE.read_text(encoding="utf-8")},
    }
    header = (
        "# Generated from config/routes.yaml by `python -m tests.deploy.kubernetes_generated`.\n"
        "# The fleet's route table. Once deployed, the rollout controller edits it in the cluster\n"
        "# (kubectl edit works too); applying this file again puts the repository's table back.\n"
    )
    return _dump(header, document)


def prometheus_rule() -> str:
    groups = yaml.safe_load(ALERTS_SOURCE.read_text(encoding="utf-8"))["groups"]
    document = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "gateway",
            "namespace": NAMESPACE,
            # kube-prometheus-stack's default ruleSelector picks rules by its release label.
            "labels": {**LABELS, "release": "kube-prometheus-stack"},
        },
        "spec": {"groups": groups},
    }
    header = (
        "# Generated from deploy/prometheus/alerts.yml by"
        " `python -m tests.deploy.kubernetes_generated`:\n"
        "# edit the alerts there (and alerts_test.yml), then generate this again.\n"
    )
    return _dump(header, document)


GENERATED: dict[str, Any] = {
    "routes-configmap.yaml": routes_configmap,
    "prometheusrule.yaml": prometheus_rule,
}


def write(folder: Path = KUBERNETES_DIR) -> None:
    for name, make in GENERATED.items():
        (folder / name).write_text(make(), encoding="utf-8")


if __name__ == "__main__":
    write()
