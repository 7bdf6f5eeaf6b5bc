"""Tickets and comments: filters, pagination, writes and the error shape, over HTTP."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.helpdesk import assert_error, audit_events, token

NOT_FOUND = (
    "The requested URL was not found on the server. "
    "If you entered the URL manually please check your spelling and try again."
)


def ids(response: httpx.Response) -> list[int]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def test_list_shape_and_serialisation(client: httpx.Client) -> None:
    body = client.get("/api/tickets", headers=token("agent"), params={"per_page": 1}).json()
    assert body["page"] == 1 and body["per_page"] == 1 and body["total"] >= 25
    assert body["items"] == [
        {
            "id": 1,
            "title": "Cannot log in after password reset",
            "description": "Reported by a customer: cannot log in after password reset.",
            "status": "open",
            "priority": "normal",
            "requester_id": 3,
            "assignee_id": 2,
            "created_at": "2024-03-01T09:00:00+00:00",
            "updated_at": "2024-03-01T09:00:00+00:00",
        }
    ]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param({"status": "closed"}, [3, 7, 11, 15, 19, 23], id="status"),
        pytest.param(
            {"priority": "high", "assignee_id": "4"}, [2, 5, 17, 20], id="priority-assignee"
        ),
        pytest.param({"q": "LOGIN"}, [18], id="q-case-insensitive"),
        pytest.param({"q": "%"}, [], id="q-percent-is-literal"),
        pytest.param({"status": "", "q": ""}, list(range(1, 21)), id="empty-values-ignored"),
        pytest.param({"per_page": "3", "page": "2"}, [4, 5, 6], id="page-2"),
        pytest.param({"page": "99"}, [], id="past-the-end"),
    ],
)
def test_filters_and_pagination(
    client: httpx.Client, params: dict[str, str], expected: list[int]
) -> None:
    response = client.get("/api/tickets", headers=token("admin"), params=params)
    assert [i for i in ids(response) if i <= 25] == expected


def test_per_page_is_clamped(client: httpx.Client) -> None:
    body = client.get("/api/tickets", headers=token("agent"), params={"per_page": "1000"}).json()
    assert body["per_page"] == 100


def test_repeated_parameter_uses_the_first_value(client: httpx.Client) -> None:
    response = client.get("/api/tickets?status=closed&status=open", headers=token("agent"))
    assert {item["status"] for item in response.json()["items"]} == {"closed"}


def test_customers_see_only_their_tickets(client: httpx.Client) -> None:
    body = client.get("/api/tickets", headers=token("customer"), params={"per_page": 100}).json()
    assert {item["requester_id"] for item in body["items"]} == {3}
    assert_error(
        client.get("/api/tickets/2", headers=token("customer")),
        404,
        "not_found",
        "Ticket 2 not found",
    )


@pytest.mark.parametrize(
    ("query", "message"),
    [
        pytest.param("page=abc", "Query parameter 'page' must be an integer", id="page-abc"),
        pytest.param("page=%2B1", "Query parameter 'page' must be an integer", id="page-plus"),
        pytest.param("page=0", "Query parameter 'page' must be at least 1", id="page-zero"),
        pytest.param(
            "per_page=99999999999999999999",
            "Query parameter 'per_page' must be at most 9223372036854775807",
            id="per-page-huge",
        ),
        pytest.param(
            "status=new",
            "Query parameter 'status' must be one of: open, pending, closed",
            id="status",
        ),
    ],
)
def test_bad_query_parameters_are_400(client: httpx.Client, query: str, message: str) -> None:
    response = client.get(f"/api/tickets?{query}", headers=token("agent"))
    assert_error(response, 400, "bad_request", message)


def test_create_read_update_delete(client: httpx.Client, legacy_db: Path) -> None:
    headers = {**token("agent"), "X-Request-ID": "crud-1"}
    body = {"title": "Printer on fire", "priority": "high", "assignee_id": 4, "requester_id": 5}
    created = client.post("/api/tickets", headers=headers, json=body)
    assert created.status_code == 201
    ticket = created.json()
    assert created.headers["location"] == f"/api/tickets/{ticket['id']}"
    assert (
        ticket["status"] == "open" and ticket["requester_id"] == 5 and ticket["description"] == ""
    )
    assert client.get(created.headers["location"], headers=headers).json() == ticket

    patched = client.patch(created.headers["location"], headers=headers, json={"status": "closed"})
    assert patched.json()["status"] == "closed"
    again = client.patch(created.headers["location"], headers=headers, json={"status": "closed"})
    assert_error(again, 409, "conflict", f"Ticket {ticket['id']} is already closed")

    assert_error(
        client.delete(created.headers["location"], headers=headers),
        403,
        "forbidden",
        "This action requires the role admin",
    )
    deleted = client.delete(created.headers["location"], headers=token("admin"))
    assert deleted.status_code == 204 and deleted.content == b""
    assert_error(client.get(created.headers["location"], headers=headers), 404, "not_found")

    events = [e for e in audit_events(legacy_db) if e.request_id == "crud-1"]
    assert [(e.action, e.user_id, e.remote_addr) for e in events] == [
        ("ticket.create", 2, "127.0.0.1"),
        ("ticket.update", 2, "127.0.0.1"),
    ]


def test_comments(client: httpx.Client) -> None:
    listed = client.get("/api/tickets/1/comments", headers=token("customer"))
    assert [c["body"] for c in listed.json()["items"]][:1] == ["Comment 1 on ticket 1."]
    created = client.post("/api/tickets/1/comments", headers=token("agent"), json={"body": "On it"})
    assert created.status_code == 201
    assert created.json()["author_id"] == 2
    closed = client.post("/api/tickets/3/comments", headers=token("agent"), json={"body": "x"})
    assert_error(closed, 409, "conflict", "Ticket 3 is closed")


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code", "message"),
    [
        pytest.param(
            "POST",
            "/api/tickets",
            b"{not json",
            400,
            "bad_request",
            "Request body must be a JSON object",
            id="400-malformed-json",
        ),
        pytest.param(
            "GET", "/api/tickets/999", None, 404, "not_found", "Ticket 999 not found", id="404"
        ),
        pytest.param(
            "GET", "/api/tickets/abc", None, 404, "not_found", NOT_FOUND, id="404-not-int"
        ),
        pytest.param("GET", "/api/tickets/", None, 404, "not_found", NOT_FOUND, id="404-slash"),
        pytest.param(
            "PUT",
            "/api/tickets/1",
            None,
            405,
            "method_not_allowed",
            "The method is not allowed for the requested URL.",
            id="405",
        ),
        pytest.param(
            "POST",
            "/api/tickets",
            {"title": "x", "assignee_id": "4"},
            422,
            "validation_error",
            "'assignee_id' must be an integer",
            id="422-type",
        ),
        pytest.param(
            "POST",
            "/api/tickets",
            {"title": "x", "assignee_id": 3},
            422,
            "validation_error",
            "'assignee_id' must refer to an agent or admin",
            id="422-reference",
        ),
        pytest.param(
            "PATCH",
            "/api/tickets/999",
            {"title": ""},
            422,
            "validation_error",
            "'title' must not be empty",
            id="422-before-404",
        ),
    ],
)
def test_error_shape(
    client: httpx.Client,
    method: str,
    path: str,
    body: bytes | dict[str, object] | None,
    status: int,
    code: str,
    message: str,
) -> None:
    headers = {**token("agent"), "Content-Type": "application/json"}
    content = body if isinstance(body, bytes) else None
    payload = body if isinstance(body, dict) else None
    response = client.request(method, path, headers=headers, content=content, json=payload)
    assert_error(response, status, code, message)
    assert response.headers["content-type"] == "application/json"
