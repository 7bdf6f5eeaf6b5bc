"""The admin API's rollout actions over HTTP, and the read token that may look but not act."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.config.routes_yaml import load_yaml
from tests.servers import ServerProcess, run_gateway

LEGACY = "tests.gateway.rollout.rollout_apps:legacy_app"
NEW = "tests.gateway.rollout.rollout_apps:new_app"
OPERATOR = {"Authorization": "Bearer operator-token"}
READER = {"Authorization": "Bearer read-token"}
ROUTES = """\
routes:
  - path: /r/healthy
    methods: [GET]
    target: canary
    weight: 5
    rollout: {steps: [5, 50, 100], approve: [50]}
    status: {state: stepping, step: 1, since: '2026-01-01T10:00:00Z', decision: start, reason: go}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    routes_file = tmp_path_factory.mktemp("admin-actions") / "routes.yaml"
    routes_file.write_text(ROUTES, encoding="utf-8")
    env = {"GATEWAY_ADMIN_TOKEN": "operator-token", "GATEWAY_READ_TOKEN": "read-token"}
    with run_gateway(routes_file, legacy_app=LEGACY, new_app=NEW, env=env) as gateway:
        yield gateway, routes_file


def post(
    gateway: ServerProcess, action: str, headers: dict[str, str], body: object
) -> httpx.Response:
    url = f"{gateway.base_url}/_gateway/api/rollout/{action}"
    if isinstance(body, bytes):  # as it is, even what a JSON encoder would refuse
        return httpx.post(url, content=body, headers=headers, timeout=10)
    return httpx.post(url, json=body, headers=headers, timeout=10)


def test_the_read_token_reads_and_may_not_act(server: tuple[ServerProcess, Path]) -> None:
    gateway, routes_file = server
    before = routes_file.read_bytes()
    routes = httpx.get(f"{gateway.base_url}/_gateway/api/routes", headers=READER).json()
    (entry,) = routes["routes"]
    assert entry["rollout"]["status"]["state"] == "stepping"
    assert (entry["rollout"]["next_step"], entry["rollout"]["next_needs_approval"]) == (50, True)
    refused = post(gateway, "pause", READER, {"route": "/r/healthy"})
    assert refused.status_code == 403
    assert "GATEWAY_ADMIN_TOKEN" in refused.json()["detail"]
    assert post(gateway, "pause", {}, {"route": "/r/healthy"}).status_code == 401
    assert routes_file.read_bytes() == before


def test_the_operator_acts_through_the_file(server: tuple[ServerProcess, Path]) -> None:
    gateway, routes_file = server
    answer = post(
        gateway, "approve", OPERATOR, {"route": "/r/healthy", "method": "GET", "reason": "ok"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"]["approved"] == [50]
    status = load_yaml(routes_file.read_text()).data["routes"][0]["status"]
    assert (status["decision"], status["by"], status["reason"]) == (
        "approve",
        "admin-api",
        "approve by admin-api: ok",
    )


@pytest.mark.parametrize(
    ("action", "body", "code"),
    [
        pytest.param("pause", {"route": "/nope"}, 409, id="unknown-route"),
        pytest.param("resume", {"route": "/r/healthy"}, 409, id="nothing-to-resume"),
        pytest.param("pause", {"path": "/r/healthy"}, 400, id="bad-body"),
        pytest.param("pause", "[", 400, id="not-json-object"),
        pytest.param(
            "pause", b'{"route": "/r/healthy", "reason": "\\ud800"}', 400, id="reason-not-text"
        ),
        pytest.param("explode", {"route": "/r/healthy"}, 404, id="unknown-action"),
    ],
)
def test_bad_actions_get_a_clear_error(
    server: tuple[ServerProcess, Path], action: str, body: object, code: int
) -> None:
    gateway, routes_file = server
    before = routes_file.read_bytes()
    answer = post(gateway, action, OPERATOR, body)
    assert answer.status_code == code, answer.text
    assert answer.json()["detail"]
    assert routes_file.read_bytes() == before


def test_actions_are_posts(server: tuple[ServerProcess, Path]) -> None:
    gateway, _ = server
    answer = httpx.get(f"{gateway.base_url}/_gateway/api/rollout/pause", headers=OPERATOR)
    assert answer.status_code == 405
