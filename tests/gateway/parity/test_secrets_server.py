"""Secrets inside differing values, over the real server: a password field inside an object
that differs, a token in a JSON body the other side answers as text, an OAuth code in a
Location header. None reaches the mismatch log, the admin API or the ledger."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.parity import export, readiness
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


# Each secret shape a client may send, and the values that must never be stored or shown.
SHAPES: list[tuple[str, dict[str, object]]] = [
    (
        "json-as-a-form-body",
        {
            "content": b'{"password":"shape-s1"}=',
            "headers": {"content-type": "application/x-www-form-urlencoded"},
        },
    ),
    (
        "camel-case-names",
        {
            "json": {
                "newPass": "shape-s2",
                "basicAuth": "shape-s3",
                "otpCode": "shape-s4",
                "accessKey": "shape-s5",
            }
        },
    ),
    (
        "headers",
        {
            "json": {"plain": 1},
            "headers": dict(
                zip(
                    apps.SECRET_HEADERS,
                    ["shape-s6", "shape-s7", "shape-s8", "shape-s9"],
                    strict=True,
                )
            ),
        },
    ),
    (
        "quoted-values",
        {
            "content": b"note=secret%3D%22shape-s10%22",
            "headers": {"content-type": "application/x-www-form-urlencoded"},
        },
    ),
    ("name-value-list", {"json": [{"name": "password", "value": "shape-s11"}]}),
    ("quoted-in-json", {"json": {"config": "region=eu apiSecret='shape-s12'"}}),
]
SHAPE_SECRETS = [f"shape-s{n}" for n in range(1, 13)]


def test_no_secret_shape_is_stored_shown_logged_or_exported(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        "default: legacy\n"
        "defaults:\n  shadow: {summary_every: 0, noise_sample: 0}\n"
        "routes:\n  - {path: /signup, methods: [POST], target: shadow, shadow_unsafe: true}\n",
        encoding="utf-8",
    )
    path = tmp_path / "parity.db"
    ledger = f"sqlite:///{path}"
    env = {"GATEWAY_LEDGER_URL": ledger, "GATEWAY_ADMIN_TOKEN": TOKEN}
    admin = {"authorization": f"Bearer {TOKEN}"}
    with run_gateway(routes, legacy_app=LEGACY, new_app=NEW, env=env) as server:
        with server.client() as client:
            for name, request in SHAPES:
                answer = client.post("/signup", **request)  # type: ignore[arg-type]
                assert answer.status_code == 200, (name, answer.text)

            def all_recorded() -> bool:
                answer = client.get("/_gateway/api/parity", headers=admin).json()
                assert "routes" in answer, answer
                return sum(int(route["compared"]) for route in answer["routes"]) == len(SHAPES)

            wait_for(all_recorded, 60)
            shown = {
                "mismatches": client.get("/_gateway/api/mismatches", headers=admin).text,
                "parity": client.get("/_gateway/api/parity", headers=admin).text,
            }
    found = readiness.read(ledger, route="/signup")
    exported = export.render(
        found[0], legacy_app=LEGACY, new_app=NEW, ledger=ledger, filename="test_signup.py"
    )
    stored = b"".join(
        file.read_bytes() for file in tmp_path.iterdir() if file.name.startswith("parity.db")
    )
    texts = {
        **shown,
        "ledger file": stored.decode("latin-1"),
        "ledger": json.dumps([route.as_dict() for route in found]),
        "export": exported,
        "log": server.log(),
    }
    for where, text in texts.items():
        for secret in SHAPE_SECRETS:
            assert secret not in text, (where, secret)
    # The shapes were there to be found: stored with their names, values redacted.
    for name in ("newPass", "x-access-key", "dpop", "password"):
        assert name in texts["ledger"], name
    assert '["x-access-key", "[redacted]"]' in texts["ledger"]
    assert r"\"newPass\": \"[redacted]\"" in texts["ledger"]  # a body, as JSON text
    assert "header:x-access-key" in texts["mismatches"]
