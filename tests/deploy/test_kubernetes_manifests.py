"""The manifests in deploy/kubernetes: valid for the API, consistent with each other and with
the gateway's own settings, and the generated ones up to date.

No cluster runs here. The core kinds are checked offline against the Kubernetes API's JSON
schemas (kubernetes-validate, strict: unknown fields are errors); the Prometheus Operator's
kinds have no schema there, so the PrometheusRule's rules go through promtool and the
ServiceMonitor's shape is checked against the Service it selects.
"""

from __future__ import annotations

import subprocess
from pathlib import Path, PurePosixPath
from typing import Any

import kubernetes_validate
import pytest
import yaml

from gateway.own.endpoints import HEALTH_PATH
from gateway.settings import GatewaySettings
from tests.deploy.kubernetes_generated import (
    ALERTS_SOURCE,
    GENERATED,
    KUBERNETES_DIR,
    ROUTES_CONFIGMAP,
    ROUTES_KEY,
)

KUBERNETES_VERSION = "1.34.0"
OPERATOR_KINDS = {"ServiceMonitor", "PrometheusRule"}  # CRDs: no schema in kubernetes-validate
Manifest = dict[str, Any]


def manifests() -> list[tuple[str, Manifest]]:
    found = []
    for path in sorted(KUBERNETES_DIR.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            found.append((path.name, document))
    return found


def the(kind: str, name: str | None = None) -> Manifest:
    matches = [
        document
        for _, document in manifests()
        if document["kind"] == kind and name in (None, document["metadata"]["name"])
    ]
    assert len(matches) == 1, f"{len(matches)} {kind} {name or ''}"
    return matches[0]


def container(deployment: Manifest) -> Manifest:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    result: Manifest = containers[0]
    return result


def env_of(deployment: Manifest) -> dict[str, str]:
    return {item["name"]: item.get("value", "") for item in container(deployment).get("env", [])}


CORE = [
    pytest.param(document, id=f"{name}:{document['kind']}")
    for name, document in manifests()
    if document["kind"] not in OPERATOR_KINDS
]


@pytest.mark.parametrize("document", CORE)
def test_core_manifests_are_valid_for_the_kubernetes_api(document: Manifest) -> None:
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_the_schema_check_would_catch_a_mistake() -> None:
    broken = yaml.safe_load(yaml.safe_dump(the("Deployment", "gateway")))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["pth"] = "/"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_every_manifest_is_in_the_kustomization_in_one_namespace() -> None:
    kustomization = yaml.safe_load((KUBERNETES_DIR / "kustomization.yaml").read_text("utf-8"))
    files = {path.name for path in KUBERNETES_DIR.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(kustomization["resources"]) == sorted(files)
    namespaces = {document["metadata"]["namespace"] for _, document in manifests()}
    assert namespaces == {kustomization["namespace"]}


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_generated_manifests_are_up_to_date(name: str) -> None:
    current = (KUBERNETES_DIR / name).read_text(encoding="utf-8")
    assert current == GENERATED[name](), (
        f"deploy/kubernetes/{name} is stale: run `python -m tests.deploy.kubernetes_generated`"
    )


# --- the gateway's Deployment -----------------------------------------------------------------


def test_every_gateway_setting_in_the_deployment_exists() -> None:
    known = {f"GATEWAY_{name.upper()}" for name in GatewaySettings.model_fields}
    known |= {"GATEWAY_WORKERS", "GATEWAY_HOST", "GATEWAY_PORT"}  # `gateway serve` options
    env = env_of(the("Deployment", "gateway"))
    assert {name for name in env if name.startswith("GATEWAY_")} <= known
    settings = GatewaySettings(
        **{  # type: ignore[arg-type]
            name.removeprefix("GATEWAY_").lower(): value
            for name, value in env.items()
            if name.removeprefix("GATEWAY_").lower() in GatewaySettings.model_fields
        }
    )
    assert settings.drain_seconds > 0


def test_probes_ask_the_gateways_health_endpoint_on_a_declared_port() -> None:
    gateway = container(the("Deployment", "gateway"))
    ports = {port["name"] for port in gateway["ports"]}
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert gateway[probe]["httpGet"]["path"] == HEALTH_PATH
        assert gateway[probe]["httpGet"]["port"] in ports


def test_grace_period_covers_the_drain_and_the_longest_request() -> None:
    deployment = the("Deployment", "gateway")
    env = env_of(deployment)
    defaults = GatewaySettings.model_fields
    drain = float(env.get("GATEWAY_DRAIN_SECONDS", defaults["drain_seconds"].default))
    longest = max(
        float(env.get("GATEWAY_NEW_TIMEOUT", defaults["new_timeout"].default)),
        float(env.get("GATEWAY_WSGI_TIMEOUT", defaults["wsgi_timeout"].default)),
    )
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > (
        drain + longest
    )
    # A draining pod answers 503: its liveness probe must not kill it before the drain ends.
    liveness = container(deployment)["livenessProbe"]
    assert liveness["periodSeconds"] * liveness["failureThreshold"] > drain


def test_the_routes_configmap_is_mounted_as_a_folder_holding_the_routes_file() -> None:
    deployment = the("Deployment", "gateway")
    volumes = {
        volume["name"]: volume for volume in deployment["spec"]["template"]["spec"]["volumes"]
    }
    mounts = [
        mount
        for mount in container(deployment)["volumeMounts"]
        if volumes[mount["name"]].get("configMap", {}).get("name") == ROUTES_CONFIGMAP
    ]
    assert len(mounts) == 1
    assert "subPath" not in mounts[0]  # a subPath mount is never updated
    routes_file = PurePosixPath(env_of(deployment)["GATEWAY_ROUTES_FILE"])
    assert routes_file == PurePosixPath(mounts[0]["mountPath"]) / ROUTES_KEY
    assert ROUTES_KEY in the("ConfigMap", ROUTES_CONFIGMAP)["data"]


def test_the_service_selects_the_gateway_pods_and_not_the_controller() -> None:
    selector = the("Service", "gateway")["spec"]["selector"]
    gateway = the("Deployment", "gateway")["spec"]["template"]["metadata"]["labels"]
    controller = the("Deployment", "gateway-rollout")["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= gateway.items()
    assert not selector.items() <= controller.items()
    target = the("Service", "gateway")["spec"]["ports"][0]["targetPort"]
    assert target in {port["name"] for port in container(the("Deployment", "gateway"))["ports"]}


# --- the rollout controller and its rights ----------------------------------------------------


def test_the_controller_runs_once_and_names_what_its_role_allows() -> None:
    deployment = the("Deployment", "gateway-rollout")
    assert deployment["spec"]["replicas"] == 1
    args = container(deployment)["args"]
    assert args[:2] == ["rollout", "run"]
    configmap = args[args.index("--configmap") + 1].split("/")
    lease = args[args.index("--lease") + 1].split("/")
    assert configmap[1:] == [ROUTES_CONFIGMAP, ROUTES_KEY]
    role = the("Role", "gateway-rollout")
    rules = {(tuple(rule["resources"]), tuple(rule["verbs"])): rule for rule in role["rules"]}
    assert rules[(("configmaps",), ("get", "patch"))]["resourceNames"] == [configmap[1]]
    assert rules[(("leases",), ("get", "update"))]["resourceNames"] == [lease[1]]
    assert "resourceNames" not in rules[(("leases",), ("create",))]
    assert len(rules) == 3  # nothing else: no list, watch, delete, no other resource


def test_the_role_is_bound_to_the_controllers_service_account_only() -> None:
    binding = the("RoleBinding", "gateway-rollout")
    account = the("Deployment", "gateway-rollout")["spec"]["template"]["spec"]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": the("Role")["metadata"]["name"],
    }
    assert [subject["name"] for subject in binding["subjects"]] == [account["serviceAccountName"]]
    assert the("ServiceAccount")["metadata"]["name"] == account["serviceAccountName"]
    gateway = the("Deployment", "gateway")["spec"]["template"]["spec"]
    assert gateway["automountServiceAccountToken"] is False


# --- Prometheus Operator kinds ----------------------------------------------------------------


def test_the_servicemonitor_scrapes_the_gateway_service_metrics_port() -> None:
    monitor = the("ServiceMonitor")["spec"]
    service = the("Service", "gateway")
    assert monitor["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert service["metadata"]["namespace"] in monitor["namespaceSelector"]["matchNames"]
    ports = {port["name"] for port in service["spec"]["ports"]}
    for endpoint in monitor["endpoints"]:
        assert endpoint["port"] in ports
        assert endpoint["path"] == GatewaySettings.model_fields["metrics_path"].default


def test_the_prometheusrule_holds_exactly_the_alert_files_rules() -> None:
    rule_groups = the("PrometheusRule")["spec"]["groups"]
    assert rule_groups == yaml.safe_load(ALERTS_SOURCE.read_text(encoding="utf-8"))["groups"]


def test_promtool_accepts_the_prometheusrules_groups(promtool: str, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump({"groups": the("PrometheusRule")["spec"]["groups"]}), "utf-8")
    result = subprocess.run(
        [promtool, "check", "rules", str(rules)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr
