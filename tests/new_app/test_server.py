"""The rewrite under uvicorn: lifespan, legacy credentials, request-local state."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import TimestampSigner

from tests.helpdesk import (
    SECRET_KEY,
    assert_error,
    audit_events,
    cookie_header,
    login_cookie,
    token,
)
from tests.servers import ServerProcess


def flask_cookie(secret_key: str, data: dict[str, object], age_seconds: int = 0) -> str:
    """A session cookie signed by Flask's own serializer, optionally backdated."""

    class BackdatedSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - age_seconds

    app = Flask(__name__)
    app.secret_key = secret_key
    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    assert serializer is not None
    serializer.signer = BackdatedSigner
    return serializer.dumps(data)


def test_lifespan_created_and_seeded_the_database(client: httpx.Client, new_db: Path) -> None:
    assert new_db.exists()
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/api/me", headers=token("customer2")).json()["name"] == "Cody Customer"


def test_token_authentication(client: httpx.Client) -> None:
    assert client.get("/api/me", headers=token("agent")).json()["role"] == "agent"
    bad = client.get("/api/me", headers={"X-Token": "nope"})
    assert_error(bad, 401, "unauthorized", "Invalid API token")
    assert_error(client.get("/api/me"), 401, "unauthorized", "Authentication required")


def test_cookie_from_legacy_login_works(client: httpx.Client, legacy: ServerProcess) -> None:
    cookie = login_cookie(legacy, "customer")
    response = client.get("/api/me", headers=cookie_header(cookie))
    assert response.status_code == 200
    assert response.json()["email"] == "customer@example.com"
    tickets = client.get("/api/tickets", headers=cookie_header(cookie)).json()
    assert {item["requester_id"] for item in tickets["items"]} == {3}


@pytest.mark.parametrize(
    "cookie",
    [
        pytest.param(flask_cookie("another-secret", {"user_id": 1}), id="other-secret"),
        pytest.param(flask_cookie(SECRET_KEY, {"user_id": 1}, 32 * 86400), id="expired"),
        pytest.param(flask_cookie(SECRET_KEY, {"user_id": 999}), id="unknown-user"),
        pytest.param(flask_cookie(SECRET_KEY, {"user_id": True}), id="not-an-id"),
        pytest.param(flask_cookie(SECRET_KEY, {"user_id": 2**63}), id="id-beyond-sqlite"),
        pytest.param(flask_cookie(SECRET_KEY, {"user_id": 0}), id="id-zero"),
        pytest.param("garbage", id="garbage"),
    ],
)
def test_bad_cookies_are_anonymous(client: httpx.Client, cookie: str) -> None:
    response = client.get("/api/me", headers=cookie_header(cookie))
    assert_error(response, 401, "unauthorized", "Authentication required")


def test_a_cookie_signed_like_flask_is_accepted(client: httpx.Client) -> None:
    cookie = flask_cookie(SECRET_KEY, {"user_id": 1}, age_seconds=3600)
    assert client.get("/api/me", headers=cookie_header(cookie)).json()["role"] == "admin"


def test_request_context_does_not_leak_between_concurrent_requests(
    new: ServerProcess, new_db: Path
) -> None:
    users = {"agent": 2, "agent2": 4, "admin": 1}

    def comment(n: int) -> tuple[str, int]:
        who = list(users)[n % len(users)]
        headers = {**token(who), "X-Request-ID": f"concurrent-{n}"}
        with new.client() as client:
            response = client.post(
                "/api/tickets/4/comments", headers=headers, json={"body": f"note {n}"}
            )
        assert response.status_code == 201, response.text
        return f"concurrent-{n}", users[who]

    with ThreadPoolExecutor(max_workers=8) as pool:
        expected = dict(pool.map(comment, range(24)))
    recorded = {
        event.request_id: event.user_id
        for event in audit_events(new_db)
        if event.request_id and event.request_id.startswith("concurrent-")
    }
    assert recorded == expected


def test_head_is_answered_like_get(client: httpx.Client) -> None:
    get = client.get("/api/tickets/1", headers=token("agent"))
    head = client.head("/api/tickets/1", headers=token("agent"))
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"]
    assert client.head("/api/tickets/1").status_code == 401
