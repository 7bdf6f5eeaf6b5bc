"""Authentication and users, against the legacy app under gunicorn."""

from __future__ import annotations

import httpx
import pytest

from legacy_app.settings import SESSION_COOKIE_NAME
from tests.helpdesk import EMAILS, PASSWORD, assert_error, cookie_header, token


def login(client: httpx.Client, who: str, password: str = PASSWORD) -> httpx.Response:
    return client.post("/login", json={"email": EMAILS[who], "password": password})


def test_health_is_public(client: httpx.Client) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_token_authenticates(client: httpx.Client) -> None:
    response = client.get("/api/me", headers=token("admin"))
    assert response.status_code == 200
    assert response.json() == {
        "id": 1,
        "email": "admin@example.com",
        "name": "Ada Admin",
        "role": "admin",
    }


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        pytest.param({}, "Authentication required", id="no-credentials"),
        pytest.param({"X-Token": "nope"}, "Invalid API token", id="bad-token"),
        pytest.param({"X-Token": ""}, "Invalid API token", id="empty-token"),
        pytest.param(cookie_header("forged.cookie.value"), "Authentication required", id="forged"),
    ],
)
def test_api_requires_authentication(
    client: httpx.Client, headers: dict[str, str], message: str
) -> None:
    assert_error(client.get("/api/tickets", headers=headers), 401, "unauthorized", message)


def test_session_cookie_from_login(client: httpx.Client) -> None:
    response = login(client, "customer")
    assert response.status_code == 200
    assert response.json()["email"] == "customer@example.com"
    set_cookie = response.headers["set-cookie"]
    assert set_cookie.startswith(f"{SESSION_COOKIE_NAME}=")
    assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie
    cookie = response.cookies[SESSION_COOKIE_NAME]
    client.cookies.clear()
    me = client.get("/api/me", headers=cookie_header(cookie))
    assert me.status_code == 200
    assert me.json()["role"] == "customer"


def test_token_wins_over_cookie(client: httpx.Client) -> None:
    cookie = login(client, "customer").cookies[SESSION_COOKIE_NAME]
    client.cookies.clear()
    headers = {**cookie_header(cookie), "X-Token": "agent-token"}
    assert client.get("/api/me", headers=headers).json()["role"] == "agent"
    headers["X-Token"] = "wrong"
    assert_error(client.get("/api/me", headers=headers), 401, "unauthorized")


def test_logout_clears_the_cookie(client: httpx.Client) -> None:
    login(client, "agent")
    response = client.post("/logout")
    assert response.status_code == 204
    assert f"{SESSION_COOKIE_NAME}=;" in response.headers["set-cookie"]
    assert_error(client.get("/api/me"), 401, "unauthorized")


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        pytest.param(
            {"email": EMAILS["agent"], "password": "wrong"},
            401,
            "Invalid email or password",
            id="wrong-password",
        ),
        pytest.param(
            {"email": "nobody@example.com", "password": PASSWORD},
            401,
            "Invalid email or password",
            id="unknown-email",
        ),
        pytest.param({"password": PASSWORD}, 422, "'email' is required", id="missing-email"),
        pytest.param(
            {"email": 5, "password": "x"}, 422, "'email' must be a string", id="int-email"
        ),
        pytest.param([1], 400, "Request body must be a JSON object", id="not-an-object"),
    ],
)
def test_login_failures(client: httpx.Client, body: object, status: int, message: str) -> None:
    response = client.post("/login", json=body)
    assert response.status_code == status
    assert response.json()["error"]["message"] == message
    assert "set-cookie" not in response.headers


def test_users_are_listed_for_staff_only(client: httpx.Client) -> None:
    response = client.get("/api/users", headers=token("agent"), params={"per_page": 2})
    assert response.status_code == 200
    assert response.json()["total"] == 5
    assert [user["id"] for user in response.json()["items"]] == [1, 2]
    assert_error(
        client.get("/api/users", headers=token("customer")),
        403,
        "forbidden",
        "This action requires the role admin or agent",
    )


def test_customers_see_only_themselves(client: httpx.Client) -> None:
    assert client.get("/api/users/3", headers=token("customer")).json()["id"] == 3
    assert_error(client.get("/api/users/1", headers=token("customer")), 403, "forbidden")
    assert_error(
        client.get("/api/users/999", headers=token("agent")), 404, "not_found", "User 999 not found"
    )


def test_admin_creates_a_user_whose_token_works(client: httpx.Client) -> None:
    body = {"email": "New@Example.com", "name": "Nia New", "role": "agent", "password": "s3cret-pw"}
    response = client.post("/api/users", headers=token("admin"), json=body)
    assert response.status_code == 201
    created = response.json()
    assert response.headers["location"] == f"/api/users/{created['id']}"
    assert created["email"] == "new@example.com"
    me = client.get("/api/me", headers={"X-Token": created["api_token"]})
    assert me.json()["name"] == "Nia New"
    login = client.post("/login", json={"email": "new@example.com", "password": "s3cret-pw"})
    assert login.status_code == 200
    again = client.post("/api/users", headers=token("admin"), json=body)
    assert_error(again, 409, "conflict", "A user with email new@example.com already exists")


@pytest.mark.parametrize(
    ("who", "body", "status", "message"),
    [
        pytest.param("agent", {}, 403, "This action requires the role admin", id="not-admin"),
        pytest.param(
            "admin",
            {"email": "x", "name": "X", "role": "agent"},
            422,
            "'email' must be a valid email address",
            id="bad-email",
        ),
        pytest.param(
            "admin",
            {"email": "x@example.com", "name": "X", "role": "boss"},
            422,
            "'role' must be one of: agent, admin, customer",
            id="bad-role",
        ),
        pytest.param(
            "admin",
            {"email": "x@example.com", "name": "X", "role": "agent", "password": "short"},
            422,
            "'password' must be at least 8 characters",
            id="short-password",
        ),
    ],
)
def test_create_user_failures(
    client: httpx.Client, who: str, body: dict[str, object], status: int, message: str
) -> None:
    response = client.post("/api/users", headers=token(who), json=body)
    assert response.status_code == status
    assert response.json()["error"]["message"] == message
