"""Every query of the Grafana dashboard, run by a real Prometheus scraping real gateways.

Two `gateway serve` replicas get known traffic on both sides for about 12 s while a Prometheus
server (Debian's package, loopback, temporary data directory) scrapes them every second with the
alert rules of deploy/prometheus loaded. Then each panel query, with Grafana's variables filled
in, must return series, and those comparing sides must return both legacy and new.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.deploy.dashboard import (
    PROMETHEUS_DIR,
    PanelQuery,
    load_dashboard,
    panel_queries,
    substitute,
    variable_query,
    variables,
)
from tests.servers import free_port, run_gateway, run_server

# The first test also pays for the module's stack: two gateways and Prometheus started, 12 s of
# traffic, scrapes caught up. About 22 s, idle or loaded; its own waits fail first, with a
# message, well before this.
pytestmark = pytest.mark.timeout(300)

ROUTES = """\
default: legacy
routes:
  - {path: "/api/items/{item_id}", methods: [GET], target: new}
  - {path: /slow, target: new}
  - {path: /api/items, methods: [GET], target: canary, weight: 50}
  - {path: /boom, target: canary, weight: 50}
  # The new side answers /flaky with 503: legacy answers GET instead, and the guard rolls POST
  # back to legacy after five new-side failures.
  - {path: /flaky, methods: [GET], target: new, fallback: legacy}
  - {path: /flaky, methods: [POST], target: new, guard: {min_requests: 5}}
  - {path: "/compare/{case}", methods: [GET], target: shadow}
"""


@dataclass(frozen=True)
class Call:
    path: str
    route: str  # the route template the gateway must label it with
    method: str = "GET"
    # The status of a new-side attempt that legacy answered in its place (a fallback): the
    # gateway counts both answers.
    failed_new_attempt: int | None = None
    # The new side raises here: uvicorn closes the connection after the 500, so a client
    # reusing it would see a reset.
    raises: bool = False


# One round of traffic.
ROUND = [
    Call("/api/items/1", "/api/items/{item_id}"),
    Call("/api/items/2", "/api/items/{item_id}"),
    Call("/slow?seconds=0.02", "/slow"),
    Call("/api/items", "/api/items"),
    Call("/api/items", "/api/items"),
    Call("/admin", "/admin"),
    Call("/boom", "/boom", raises=True),  # 500 on both sides
    Call("/flaky", "/flaky", failed_new_attempt=503),
    Call("/flaky", "/flaky", method="POST"),
    Call("/compare/same", "/compare/{case}"),  # shadowed, both sides agree
    Call("/compare/differ", "/compare/{case}"),  # shadowed, the sides differ
    Call("/api/items%2F1", "__rejected__"),  # an encoded slash: refused by the gateway itself
]
TRAFFIC_SECONDS = 12.0
ROUND_INTERVAL = 0.25

GRAFANA_VALUES = {
    "datasource": "prometheus",
    "route": ".*",
    "instance": ".*",
    "__rate_interval": "1m",
    "__interval": "15s",
    "__interval_ms": "15000",
    "__range": "5m",
    "__range_s": "300",
}
SIDES = {"legacy", "new"}

# Requests by (route, side, status), as the gateway answered them.
Answers = Counter[tuple[str, str, str]]


@dataclass(frozen=True)
class Expected:
    """A series a panel must show after the traffic above, with its value in [low, high]."""

    panel: str
    labels: dict[str, str]
    low: float
    high: float = math.inf


ERROR_RATIO = "Error ratio (5xx / all) by route and side"
SHADOW = "Shadow comparisons by outcome"
SOME = 1e-9  # any rate above zero

EXPECTED = [
    Expected(ERROR_RATIO, {"route": "/boom", "side": "legacy"}, 1, 1),
    Expected(ERROR_RATIO, {"route": "/boom", "side": "new"}, 1, 1),
    Expected(ERROR_RATIO, {"route": "/api/items", "side": "legacy"}, 0, 0),
    Expected(ERROR_RATIO, {"route": "/api/items", "side": "new"}, 0, 0),
    Expected(SHADOW, {"route": "/compare/{case}", "outcome": "match"}, SOME),
    Expected(SHADOW, {"route": "/compare/{case}", "outcome": "mismatch"}, SOME),
    Expected(
        "Fallbacks to legacy by route and reason", {"route": "/flaky", "reason": "status"}, SOME
    ),
    # Each replica rolled POST /flaky back once.
    Expected("Rollbacks by route and reason", {"route": "/flaky", "reason": "error_ratio"}, 2, 2),
    Expected("Configured target over time", {"route": "/flaky", "target": "new"}, 1, 1),
    Expected("Effective target over time", {"route": "/flaky", "target": "legacy"}, 1, 1),
    Expected("Effective target over time", {"route": "/api/items", "target": "canary"}, 1, 1),
    Expected("Canary weight by route", {"route": "/api/items"}, 50, 50),
    Expected("Last reload successful", {}, 1, 1),
]


class PromQLError(Exception):
    pass


@dataclass
class Stack:
    prometheus: httpx.Client
    instances: list[str]
    sent: Answers

    def query(self, expr: str) -> list[dict[str, Any]]:
        response = self.prometheus.get("/api/v1/query", params={"query": expr})
        body = response.json()
        if response.status_code != 200 or body.get("status") != "success":
            raise PromQLError(f"{body.get('errorType')}: {body.get('error')}")
        assert body["data"]["resultType"] == "vector", body["data"]["resultType"]
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def seen(self) -> Answers:
        result = self.query("sum by (route, side, status) (gateway_requests_total)")
        return Counter(
            {
                (s["metric"]["route"], s["metric"]["side"], s["metric"]["status"]): int(
                    float(s["value"][1])
                )
                for s in result
            }
        )


def prometheus_config(targets: list[str], data_dir: Path) -> Path:
    """deploy/prometheus/prometheus.yml aimed at `targets`, scraping and evaluating every 1 s."""
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text(encoding="utf-8"))
    config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    config["rule_files"] = [str(PROMETHEUS_DIR / name) for name in config["rule_files"]]
    (job,) = [job for job in config["scrape_configs"] if job["job_name"] == "gateway"]
    job["static_configs"] = [{"targets": targets}]
    path = data_dir / "prometheus.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def send_traffic(clients: list[httpx.Client]) -> Answers:
    sent: Answers = Counter()
    deadline = time.monotonic() + TRAFFIC_SECONDS
    rounds = 0
    while time.monotonic() < deadline:
        client = clients[rounds % len(clients)]
        for call in ROUND:
            headers = {"Connection": "close"} if call.raises else {}
            response = client.request(call.method, call.path, headers=headers)
            side = response.headers["x-gateway-side"]
            sent[call.route, side, str(response.status_code)] += 1
            if call.failed_new_attempt is not None and side == "legacy":
                sent[call.route, "new", str(call.failed_new_attempt)] += 1
        rounds += 1
        time.sleep(ROUND_INTERVAL)
    return sent


def wait_for_targets(prometheus: httpx.Client, count: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    targets: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        targets = prometheus.get("/api/v1/targets").json()["data"]["activeTargets"]
        if len(targets) == count and all(t["health"] == "up" for t in targets):
            return
        time.sleep(0.2)
    pytest.fail(f"Prometheus does not scrape the gateways: {targets}")


def wait_until_seen(stack: Stack, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while stack.seen() != stack.sent and time.monotonic() < deadline:
        time.sleep(0.2)


@pytest.fixture(scope="module")
def stack(prometheus: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("prometheus-stack")
    routes_file = tmp / "routes.yaml"
    routes_file.write_text(ROUTES, encoding="utf-8")
    env = {"GATEWAY_ACCESS_LOG": "false"}
    with ExitStack() as stack:
        gateways = [stack.enter_context(run_gateway(routes_file, env=env)) for _ in range(2)]
        instances = [f"127.0.0.1:{gateway.port}" for gateway in gateways]
        port = free_port()
        argv = [
            prometheus,
            f"--config.file={prometheus_config(instances, tmp)}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ]
        server = stack.enter_context(run_server(argv, port=port, health_path="/-/ready"))
        client = stack.enter_context(server.client())
        wait_for_targets(client, len(instances))
        clients = [stack.enter_context(gateway.client()) for gateway in gateways]
        result = Stack(client, instances, send_traffic(clients))
        wait_until_seen(result)
        yield result


def test_prometheus_sees_the_traffic_sent(stack: Stack) -> None:
    assert {side for _, side, _ in stack.sent} == SIDES | {"gateway"}
    seen = stack.seen()
    assert seen == stack.sent, (
        "(route, side, status) counts differ: sent but not in Prometheus "
        f"{dict(stack.sent - seen)}, in Prometheus but not sent {dict(seen - stack.sent)}"
    )


def test_alert_rules_are_loaded_and_evaluate(stack: Stack) -> None:
    rule_files = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text(encoding="utf-8"))
    expected = {
        group["name"]: [rule.get("alert") or rule.get("record") for rule in group["rules"]]
        for group in rule_files["groups"]
    }
    groups = stack.prometheus.get("/api/v1/rules").json()["data"]["groups"]
    assert {
        group["name"]: [rule["name"] for rule in group["rules"]] for group in groups
    } == expected
    for group in groups:
        for rule in group["rules"]:
            assert rule["health"] == "ok", f"rule {rule['name']}: {rule.get('lastError')}"


@pytest.mark.parametrize(
    "name", [name for name in variables(load_dashboard()) if name != "datasource"]
)
def test_variable_lists_values(stack: Stack, name: str) -> None:
    """A `label_values(selector, label)` variable, as Grafana asks Prometheus for it."""
    query = substitute(variable_query(variables(load_dashboard())[name]), GRAFANA_VALUES)
    selector, _, label = query.removeprefix("label_values(").removesuffix(")").rpartition(", ")
    response = stack.prometheus.get(f"/api/v1/label/{label}/values", params={"match[]": selector})
    values = set(response.json()["data"])
    if name == "instance":
        assert values == set(stack.instances)
    else:
        assert values >= {route for route, _, _ in stack.sent}


@pytest.mark.parametrize(
    "query",
    [
        pytest.param(query, id=f"{query.panel} [{query.ref_id}]")
        for query in panel_queries(load_dashboard())
    ],
)
def test_panel_query_returns_series(stack: Stack, query: PanelQuery) -> None:
    expr = substitute(query.expr, GRAFANA_VALUES)
    try:
        result = stack.query(expr)
    except PromQLError as exc:
        pytest.fail(f"{query.describe()}\nPrometheus refused it: {exc}", pytrace=False)
    if not result:
        pytest.fail(f"{query.describe()}\nreturned no series", pytrace=False)
    if not any(math.isfinite(float(sample["value"][1])) for sample in result):
        pytest.fail(f"{query.describe()}\nreturned only NaN or Inf: {result}", pytrace=False)
    if "side" in query.grouped_by:
        sides = {sample["metric"].get("side") for sample in result}
        if not SIDES <= sides:
            pytest.fail(
                f"{query.describe()}\ncompares sides but returned series for {sorted(sides)}",
                pytrace=False,
            )


@pytest.mark.parametrize(
    "expected",
    [pytest.param(e, id=f"{e.panel} {e.labels}") for e in EXPECTED],
)
def test_panel_shows_the_traffic_sent(stack: Stack, expected: Expected) -> None:
    query = next(q for q in panel_queries(load_dashboard()) if q.panel == expected.panel)
    result = stack.query(substitute(query.expr, GRAFANA_VALUES))
    values = [
        float(sample["value"][1])
        for sample in result
        if expected.labels.items() <= sample["metric"].items()
    ]
    assert values, f"{query.describe()}\nno series with {expected.labels} in {result}"
    for value in values:
        assert expected.low <= value <= expected.high, f"{query.describe()}\n{result}"
