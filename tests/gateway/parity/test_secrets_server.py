"""Secrets inside differing values, over the real server: a password field inside an object
that differs, a token in a JSON body the other side answers as text, an OAuth code in a
Location header. None reaches the mismatch log, the admin API or the ledger."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.parity import readiness
from tests.gateway.parity import apps
from tests.servers import run_gateway
from tests.waiting import wait_for

pytestmark = pytest.mark.timeout(120)

LEGACY = "tests.gateway.parity.apps:flask_app"
NEW = "tests.gateway.parity.apps:fastapi_app"
TOKEN = "secrets-admin-token"
SECRETS = (apps.ACCOUNT_PASSWORD, apps.SESSION_TOKEN, apps.LINK_CODE)
ROUTES = """\
default: legacy
defaults:
  shadow: {summary_every: 0, noise_sample: 0}
routes:
  - {path: /account, target: shadow}
  - {path: /session, target: shadow}
"""


def test_secrets_inside_differing_values_are_never_shown(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(ROUTES, encoding="utf-8")
    ledger = f"sqlite:///{tmp_path / 'parity.db'}"
    env = {"GATEWAY_LEDGER_URL": ledger, "GATEWAY_ADMIN_TOKEN": TOKEN}
    admin = {"authorization": f"Bearer {TOKEN}"}
    with run_gateway(routes, legacy_app=LEGACY, new_app=NEW, env=env) as server:
        with server.client() as client:
            assert client.get("/account").status_code == 200
            assert client.get("/session").status_code == 200

            def both_recorded() -> bool:
                answer = client.get("/_gateway/api/parity", headers=admin).json()
                assert "routes" in answer, answer
                found = answer["routes"]
                return sum(int(route["mismatched"]) for route in found) == 2

            wait_for(both_recorded, 60)
            shown = {
                "mismatches": client.get("/_gateway/api/mismatches", headers=admin).text,
                "parity": client.get("/_gateway/api/parity", headers=admin).text,
            }
    stored = json.dumps([route.as_dict() for route in readiness.read(ledger)])
    texts = {**shown, "ledger": stored, "log": server.log()}
    for where, text in texts.items():
        for secret in SECRETS:
            assert secret not in text, (where, secret, text)
        assert "[redacted]" in text, where
    # What is not secret still shows what differs.
    assert "/done?code=[redacted]&state=1" in stored
    assert (
        '"name": "ann"'
        in json.loads(shown["mismatches"])["mismatches"][-1]["differences"][0]["primary"]
    )
