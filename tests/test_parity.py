"""Parity: the FastAPI rewrite answers like the legacy Flask app, endpoint by endpoint.

Both servers start from their own copy of one freshly seeded database and receive the same
requests in the same order, so ids of created rows match. For each case both must give the
expected status, and the same status, JSON body and headers: all but the few that are each
server's own (Date, Server, Connection, Content-Length), so content type, `Vary`, caching and
CORS headers are compared wherever either side sends them; cookies set are compared by name and
attributes, not by their signed values.

The last test sends every read case through `gateway serve` with each migrated read shadowed:
the gateway's own comparison (every header, `Vary` included) must find no difference either.

Cases run in the order listed and later ones read rows that earlier ones wrote (ids 26 and
up), so run the module whole; a -k subset still compares like with like, but some expected
statuses assume the earlier writes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from starlette.routing import compile_path

from gateway.config.routes_file import parse_routes
from new_app.main import Endpoint, migrated_endpoints
from tests.helpdesk import (
    TOKENS,
    app_env,
    cookie_header,
    copy_database,
    legacy_server,
    login_cookie,
    new_server,
    seed_database,
)
from tests.servers import ServerProcess, run_gateway
from tests.waiting import wait_for

NO_BODY = object()
# Seed timestamps are in 2024; anything later was written while the test ran.
WRITTEN_DURING_TEST = datetime(2025, 1, 1, tzinfo=UTC)
BIG = 2**70
MAX_ID = 2**63 - 1


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    status: int
    # A TOKENS key, "cookie:<who>" for a session from the legacy login, or None.
    auth: str | None = "agent"
    body: object = NO_BODY
    raw: bytes | None = None
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def case(
    case_id: str,
    method: str,
    path: str,
    status: int,
    *,
    auth: str | None = "agent",
    body: object = NO_BODY,
    raw: bytes | None = None,
    content_type: str | None = None,
    headers: dict[str, str] | None = None,
) -> pytest.ParameterSet:
    return pytest.param(
        Case(method, path, status, auth, body, raw, content_type, headers or {}), id=case_id
    )


def get(case_id: str, path: str, status: int = 200, **kwargs: Any) -> pytest.ParameterSet:
    return case(case_id, "GET", path, status, **kwargs)


def post(case_id: str, path: str, body: object, status: int, **kwargs: Any) -> pytest.ParameterSet:
    return case(case_id, "POST", path, status, body=body, **kwargs)


def patch(case_id: str, path: str, body: object, status: int, **kwargs: Any) -> pytest.ParameterSet:
    return case(case_id, "PATCH", path, status, body=body, **kwargs)


GARBAGE_COOKIE = cookie_header("not.a.cookie")
LONG_TITLE = "t" * 201
LONG_TEXT = "d" * 5001

HEALTH_AND_ME = [
    get("health", "/health", auth=None),
    get("health-ignores-bad-token", "/health", auth=None, headers={"X-Token": "nope"}),
    case("health-head", "HEAD", "/health", 200, auth=None),
    case("health-post", "POST", "/health", 405, auth=None),
    get("me-admin", "/api/me", auth="admin"),
    get("me-agent", "/api/me"),
    get("me-customer-token", "/api/me", auth="customer"),
    get("me-customer-cookie", "/api/me", auth="cookie:customer"),
    get("me-agent-cookie", "/api/me", auth="cookie:agent"),
    get("me-no-auth", "/api/me", 401, auth=None),
    get("me-bad-token", "/api/me", 401, auth=None, headers={"X-Token": "nope"}),
    get("me-empty-token", "/api/me", 401, auth=None, headers={"X-Token": ""}),
    get("me-garbage-cookie", "/api/me", 401, auth=None, headers=GARBAGE_COOKIE),
    get(
        "me-bad-token-beats-cookie",
        "/api/me",
        401,
        auth="cookie:customer",
        headers={"X-Token": "nope"},
    ),
    get("me-trailing-slash", "/api/me/", 404),
    case("me-post", "POST", "/api/me", 405),
    case("me-head", "HEAD", "/api/me", 200),
    case("me-head-no-auth", "HEAD", "/api/me", 401, auth=None),
]

LIST_TICKETS = [
    get("list-default", "/api/tickets"),
    get("list-admin", "/api/tickets", auth="admin"),
    get("list-customer", "/api/tickets", auth="customer"),
    get("list-customer2", "/api/tickets", auth="customer2"),
    get("list-customer-cookie", "/api/tickets", auth="cookie:customer"),
    get("list-status-open", "/api/tickets?status=open"),
    get("list-status-pending", "/api/tickets?status=pending"),
    get("list-status-closed", "/api/tickets?status=closed"),
    get("list-priority-high", "/api/tickets?priority=high"),
    get("list-assignee", "/api/tickets?assignee_id=4"),
    get("list-assignee-unknown", "/api/tickets?assignee_id=999"),
    get("list-combined", "/api/tickets?status=open&priority=low&assignee_id=2"),
    get("list-customer-filtered", "/api/tickets?status=open", auth="customer"),
    get("list-q", "/api/tickets?q=login"),
    get("list-q-case-insensitive", "/api/tickets?q=EXPORT"),
    get("list-q-percent-literal", "/api/tickets?q=%25"),
    get("list-q-underscore-literal", "/api/tickets?q=_"),
    get("list-q-space", "/api/tickets?q=to%20start"),
    get("list-q-unicode", "/api/tickets?q=caf%C3%A9"),
    get("list-page-2", "/api/tickets?page=2&per_page=5"),
    get("list-per-page-1", "/api/tickets?per_page=1"),
    get("list-per-page-100", "/api/tickets?per_page=100"),
    get("list-per-page-clamped", "/api/tickets?per_page=1000"),
    get("list-page-past-end", "/api/tickets?page=99"),
    get("list-page-max", f"/api/tickets?page={MAX_ID}"),
    get("list-page-leading-zeros", "/api/tickets?page=01&per_page=05"),
    get("list-page-empty", "/api/tickets?page=&per_page="),
    get("list-page-over-max", f"/api/tickets?page={MAX_ID + 1}", 400),
    get("list-page-zero", "/api/tickets?page=0", 400),
    get("list-page-negative", "/api/tickets?page=-1", 400),
    get("list-page-abc", "/api/tickets?page=abc", 400),
    get("list-page-plus", "/api/tickets?page=%2B1", 400),
    get("list-page-float", "/api/tickets?page=1.0", 400),
    get("list-page-space", "/api/tickets?page=%201", 400),
    get("list-page-underscore", "/api/tickets?page=1_0", 400),
    get("list-page-arabic-digit", "/api/tickets?page=%D9%A1", 400),
    get("list-per-page-zero", "/api/tickets?per_page=0", 400),
    get("list-per-page-huge", f"/api/tickets?per_page={BIG}", 400),
    get("list-status-invalid", "/api/tickets?status=new", 400),
    get("list-status-uppercase", "/api/tickets?status=OPEN", 400),
    get("list-priority-invalid", "/api/tickets?priority=urgent", 400),
    get("list-assignee-abc", "/api/tickets?assignee_id=abc", 400),
    get("list-assignee-zero", "/api/tickets?assignee_id=0", 400),
    get("list-repeated-status-first-wins", "/api/tickets?status=closed&status=open"),
    get("list-repeated-page-first-wins", "/api/tickets?page=2&page=1"),
    get("list-repeated-first-empty", "/api/tickets?status=&status=closed"),
    get("list-repeated-first-invalid", "/api/tickets?status=bad&status=open", 400),
    get("list-filters-checked-before-paging", "/api/tickets?page=abc&status=bad", 400),
    get("list-unknown-parameter", "/api/tickets?foo=bar"),
    get("list-no-auth", "/api/tickets", 401, auth=None),
    get("list-no-auth-bad-query", "/api/tickets?page=abc", 401, auth=None),
    get("list-bad-token", "/api/tickets", 401, auth=None, headers={"X-Token": "nope"}),
    get("list-trailing-slash", "/api/tickets/", 404),
    case("list-delete", "DELETE", "/api/tickets", 405),
]

GET_TICKET = [
    get("get-1", "/api/tickets/1"),
    get("get-25", "/api/tickets/25"),
    get("get-customer-own", "/api/tickets/1", auth="customer"),
    get("get-customer-own-cookie", "/api/tickets/1", auth="cookie:customer"),
    get("get-customer-other", "/api/tickets/2", 404, auth="customer"),
    get("get-customer2-own", "/api/tickets/2", auth="customer2"),
    get("get-missing", "/api/tickets/999", 404),
    get("get-zero", "/api/tickets/0", 404),
    get("get-leading-zeros", "/api/tickets/007"),
    get("get-max-id", f"/api/tickets/{MAX_ID}", 404),
    get("get-huge-id", f"/api/tickets/{BIG}", 404),
    get("get-not-int", "/api/tickets/abc", 404),
    get("get-negative", "/api/tickets/-1", 404),
    get("get-float", "/api/tickets/1.5", 404),
    get("get-plus", "/api/tickets/%2B1", 404),
    get("get-trailing-slash", "/api/tickets/1/", 404),
    get("get-no-auth", "/api/tickets/1", 401, auth=None),
    get("get-no-auth-missing", "/api/tickets/999", 401, auth=None),
    get("get-no-auth-not-int", "/api/tickets/abc", 404, auth=None),
    get("get-bad-token", "/api/tickets/1", 401, auth=None, headers={"X-Token": "nope"}),
    case("get-put", "PUT", "/api/tickets/1", 405),
    case("get-put-no-auth", "PUT", "/api/tickets/1", 405, auth=None),
    case("get-head", "HEAD", "/api/tickets/1", 200),
]

TICKETS = "/api/tickets"
CREATE_TICKET = [
    post("create-minimal", TICKETS, {"title": "Parity minimal"}, 201),  # id 26
    post(
        "create-full",
        TICKETS,
        {
            "title": "Parity full",
            "description": "All fields",
            "priority": "high",
            "assignee_id": 4,
            "requester_id": 3,
        },
        201,
    ),  # id 27
    post("create-assign-admin", TICKETS, {"title": "For the admin", "assignee_id": 1}, 201),
    post(
        "create-customer",
        TICKETS,
        {"title": "Customer ticket", "description": "Help"},
        201,
        auth="customer",
    ),
    post("create-customer-cookie", TICKETS, {"title": "Via cookie"}, 201, auth="cookie:customer"),
    post(
        "create-customer-nulls",
        TICKETS,
        {"title": "Nulls", "assignee_id": None, "requester_id": None},
        201,
        auth="customer",
    ),
    post(
        "create-customer-assignee", TICKETS, {"title": "x", "assignee_id": 2}, 403, auth="customer"
    ),
    post(
        "create-customer-requester",
        TICKETS,
        {"title": "x", "requester_id": 3},
        403,
        auth="customer",
    ),
    post(
        "create-customer-both",
        TICKETS,
        {"title": "x", "requester_id": 3, "assignee_id": 2},
        403,
        auth="customer",
    ),
    post(
        "create-customer-invalid-before-forbidden",
        TICKETS,
        {"title": "", "assignee_id": 2},
        422,
        auth="customer",
    ),
    post("create-missing-title", TICKETS, {"description": "no title"}, 422),
    post("create-empty-title", TICKETS, {"title": ""}, 422),
    post("create-title-too-long", TICKETS, {"title": LONG_TITLE}, 422),
    post("create-title-max-length", TICKETS, {"title": LONG_TITLE[:200]}, 201),
    post("create-title-int", TICKETS, {"title": 5}, 422),
    post("create-title-null", TICKETS, {"title": None}, 422),
    post("create-title-list", TICKETS, {"title": ["a"]}, 422),
    post("create-title-whitespace", TICKETS, {"title": " "}, 201),
    post("create-title-unicode", TICKETS, {"title": "Café ☕ 東京"}, 201),
    post("create-description-null", TICKETS, {"title": "x", "description": None}, 422),
    post("create-description-int", TICKETS, {"title": "x", "description": 1}, 422),
    post("create-description-too-long", TICKETS, {"title": "x", "description": LONG_TEXT}, 422),
    post("create-priority-invalid", TICKETS, {"title": "x", "priority": "urgent"}, 422),
    post("create-priority-uppercase", TICKETS, {"title": "x", "priority": "HIGH"}, 422),
    post("create-priority-int", TICKETS, {"title": "x", "priority": 1}, 422),
    post("create-priority-null", TICKETS, {"title": "x", "priority": None}, 422),
    post("create-assignee-string", TICKETS, {"title": "x", "assignee_id": "4"}, 422),
    post("create-assignee-bool", TICKETS, {"title": "x", "assignee_id": True}, 422),
    post("create-assignee-float", TICKETS, {"title": "x", "assignee_id": 4.0}, 422),
    post(
        "create-assignee-nan",
        TICKETS,
        None,
        422,
        raw=b'{"title": "x", "assignee_id": NaN}',
        content_type="application/json",
    ),
    post("create-assignee-customer", TICKETS, {"title": "x", "assignee_id": 3}, 422),
    post("create-assignee-missing", TICKETS, {"title": "x", "assignee_id": 999}, 422),
    post("create-assignee-zero", TICKETS, {"title": "x", "assignee_id": 0}, 422),
    post("create-assignee-negative", TICKETS, {"title": "x", "assignee_id": -5}, 422),
    post("create-assignee-huge", TICKETS, {"title": "x", "assignee_id": BIG}, 422),
    post("create-requester-missing", TICKETS, {"title": "x", "requester_id": 999}, 422),
    post("create-requester-string", TICKETS, {"title": "x", "requester_id": "3"}, 422),
    post("create-first-error-wins", TICKETS, {"title": 5, "priority": "x"}, 422),
    post("create-field-order", TICKETS, {"priority": "x", "description": 5, "title": "ok"}, 422),
    post(
        "create-extra-fields-ignored", TICKETS, {"title": "Extra", "status": "closed", "id": 1}, 201
    ),
    post("create-list-body", TICKETS, [], 400),
    post("create-string-body", TICKETS, "title", 400),
    post("create-number-body", TICKETS, 5, 400),
    post("create-null-body", TICKETS, None, 400),
    post("create-invalid-json", TICKETS, None, 400, raw=b"{bad", content_type="application/json"),
    post("create-empty-body", TICKETS, None, 400, raw=b"", content_type="application/json"),
    post("create-no-body", TICKETS, None, 400, raw=b""),
    post("create-no-content-type", TICKETS, None, 400, raw=b'{"title": "x"}'),
    post("create-text-plain", TICKETS, None, 400, raw=b'{"title": "x"}', content_type="text/plain"),
    post(
        "create-form-urlencoded",
        TICKETS,
        None,
        400,
        raw=b"title=x",
        content_type="application/x-www-form-urlencoded",
    ),
    post(
        "create-json-charset",
        TICKETS,
        {"title": "Charset"},
        201,
        content_type="application/json; charset=utf-8",
    ),
    post(
        "create-vendor-json",
        TICKETS,
        {"title": "Vendor"},
        201,
        content_type="application/vnd.api+json",
    ),
    post(
        "create-json-uppercase-type",
        TICKETS,
        {"title": "Upper"},
        201,
        content_type="Application/JSON",
    ),
    post("create-no-auth", TICKETS, {"title": "x"}, 401, auth=None),
    post(
        "create-no-auth-invalid-json",
        TICKETS,
        None,
        401,
        auth=None,
        raw=b"{bad",
        content_type="application/json",
    ),
    post("create-no-auth-invalid-body", TICKETS, {"title": 5}, 401, auth=None),
    post("create-bad-token", TICKETS, {"title": "x"}, 401, auth=None, headers={"X-Token": "x"}),
    post("create-trailing-slash", TICKETS + "/", {"title": "x"}, 404),
    get("get-created", "/api/tickets/26"),
    get("get-created-full", "/api/tickets/27"),
    get("list-after-create", "/api/tickets?page=2"),
    get("list-customer-after-create", "/api/tickets?per_page=100", auth="customer"),
]

UPDATE_TICKET = [
    patch("patch-title", "/api/tickets/1", {"title": "Renamed"}, 200),
    patch("patch-description", "/api/tickets/1", {"description": ""}, 200),
    patch("patch-priority", "/api/tickets/1", {"priority": "low"}, 200),
    patch("patch-status-pending", "/api/tickets/1", {"status": "pending"}, 200),
    patch("patch-assign", "/api/tickets/1", {"assignee_id": 4}, 200),
    patch("patch-unassign", "/api/tickets/1", {"assignee_id": None}, 200),
    patch("patch-assign-admin", "/api/tickets/1", {"assignee_id": 1}, 200),
    patch("patch-assign-customer", "/api/tickets/1", {"assignee_id": 3}, 422),
    patch("patch-assign-missing", "/api/tickets/1", {"assignee_id": 999}, 422),
    patch("patch-assign-string", "/api/tickets/1", {"assignee_id": "2"}, 422),
    patch(
        "patch-several",
        "/api/tickets/1",
        {"title": "Several", "priority": "high", "status": "open"},
        200,
    ),
    patch("patch-empty", "/api/tickets/1", {}, 200),
    patch("patch-unknown-field-only", "/api/tickets/1", {"foo": 1}, 200),
    patch("patch-requester-ignored", "/api/tickets/1", {"requester_id": 5}, 200),
    patch("patch-title-null", "/api/tickets/1", {"title": None}, 422),
    patch("patch-title-empty", "/api/tickets/1", {"title": ""}, 422),
    patch("patch-title-too-long", "/api/tickets/1", {"title": LONG_TITLE}, 422),
    patch("patch-description-null", "/api/tickets/1", {"description": None}, 422),
    patch("patch-status-invalid", "/api/tickets/1", {"status": "done"}, 422),
    patch("patch-status-null", "/api/tickets/1", {"status": None}, 422),
    patch("patch-priority-null", "/api/tickets/1", {"priority": None}, 422),
    patch("patch-field-order", "/api/tickets/1", {"assignee_id": "x", "title": 5}, 422),
    patch("patch-close", "/api/tickets/26", {"status": "closed"}, 200),
    patch("patch-close-again", "/api/tickets/26", {"status": "closed"}, 409),
    patch(
        "patch-close-again-with-title",
        "/api/tickets/26",
        {"title": "Not applied", "status": "closed"},
        409,
    ),
    patch("patch-reopen", "/api/tickets/26", {"status": "open"}, 200),
    patch("patch-close-seeded-closed", "/api/tickets/3", {"status": "closed"}, 409),
    patch("patch-missing", "/api/tickets/999", {"title": "x"}, 404),
    patch("patch-missing-bad-body", "/api/tickets/999", {"title": 5}, 422),
    patch(
        "patch-missing-invalid-json",
        "/api/tickets/999",
        None,
        400,
        raw=b"{",
        content_type="application/json",
    ),
    patch("patch-huge-id", f"/api/tickets/{BIG}", {"title": "x"}, 404),
    patch("patch-not-int", "/api/tickets/abc", {"title": "x"}, 404),
    patch(
        "patch-customer-own", "/api/tickets/1", {"title": "Customer rename"}, 200, auth="customer"
    ),
    patch(
        "patch-customer-own-cookie",
        "/api/tickets/1",
        {"description": "From cookie"},
        200,
        auth="cookie:customer",
    ),
    patch("patch-customer-status", "/api/tickets/1", {"status": "closed"}, 403, auth="customer"),
    patch("patch-customer-priority", "/api/tickets/1", {"priority": "high"}, 403, auth="customer"),
    patch("patch-customer-unassign", "/api/tickets/1", {"assignee_id": None}, 403, auth="customer"),
    patch("patch-customer-other", "/api/tickets/2", {"title": "x"}, 404, auth="customer"),
    patch("patch-customer-closed-own", "/api/tickets/3", {"title": "x"}, 403, auth="customer"),
    patch("patch-customer2-own", "/api/tickets/2", {"title": "Mine"}, 200, auth="customer2"),
    patch("patch-no-auth", "/api/tickets/1", {"title": "x"}, 401, auth=None),
    patch(
        "patch-no-auth-invalid-json",
        "/api/tickets/1",
        None,
        401,
        auth=None,
        raw=b"{",
        content_type="application/json",
    ),
    patch(
        "patch-bad-token",
        "/api/tickets/1",
        {"title": "x"},
        401,
        auth=None,
        headers={"X-Token": "nope"},
    ),
    patch("patch-list-body", "/api/tickets/1", [], 400),
    patch("patch-no-content-type", "/api/tickets/1", None, 400, raw=b'{"title": "x"}'),
    get("get-after-patch", "/api/tickets/1"),
    get("get-reopened", "/api/tickets/26"),
]

COMMENTS_1 = "/api/tickets/1/comments"
COMMENTS = [
    get("comments-list", COMMENTS_1),
    get("comments-list-three", "/api/tickets/4/comments"),
    get("comments-list-one", "/api/tickets/12/comments"),
    get("comments-list-none", "/api/tickets/20/comments"),
    get("comments-list-paged", COMMENTS_1 + "?per_page=2&page=2"),
    get("comments-list-past-end", COMMENTS_1 + "?page=5"),
    get("comments-list-bad-page", COMMENTS_1 + "?page=x", 400),
    get("comments-list-ignores-ticket-filters", COMMENTS_1 + "?status=bad"),
    get("comments-list-closed-ticket", "/api/tickets/3/comments"),
    get("comments-list-customer-own", COMMENTS_1, auth="customer"),
    get("comments-list-cookie", COMMENTS_1, auth="cookie:customer"),
    get("comments-list-customer-other", "/api/tickets/2/comments", 404, auth="customer"),
    get("comments-list-missing", "/api/tickets/999/comments", 404),
    get("comments-list-not-int", "/api/tickets/abc/comments", 404),
    get("comments-list-no-auth", COMMENTS_1, 401, auth=None),
    get("comments-list-bad-token", COMMENTS_1, 401, auth=None, headers={"X-Token": "nope"}),
    get("comments-list-trailing-slash", COMMENTS_1 + "/", 404),
    case("comments-list-delete", "DELETE", COMMENTS_1, 405),
    post("comment-create", COMMENTS_1, {"body": "Agent reply"}, 201),
    post("comment-create-customer", COMMENTS_1, {"body": "Customer reply"}, 201, auth="customer"),
    post(
        "comment-create-cookie", COMMENTS_1, {"body": "Cookie reply"}, 201, auth="cookie:customer"
    ),
    post(
        "comment-create-customer2",
        "/api/tickets/2/comments",
        {"body": "Mine"},
        201,
        auth="customer2",
    ),
    post("comment-create-new-ticket", "/api/tickets/27/comments", {"body": "First"}, 201),
    post("comment-create-extra-fields", COMMENTS_1, {"body": "Extra", "author_id": 1}, 201),
    post("comment-create-max-length", COMMENTS_1, {"body": LONG_TEXT[:5000]}, 201),
    post("comment-create-closed", "/api/tickets/3/comments", {"body": "x"}, 409),
    post("comment-create-closed-bad-body", "/api/tickets/3/comments", {"body": ""}, 422),
    post("comment-create-missing-body", COMMENTS_1, {}, 422),
    post("comment-create-empty", COMMENTS_1, {"body": ""}, 422),
    post("comment-create-int", COMMENTS_1, {"body": 1}, 422),
    post("comment-create-null", COMMENTS_1, {"body": None}, 422),
    post("comment-create-too-long", COMMENTS_1, {"body": LONG_TEXT}, 422),
    post("comment-create-missing-ticket", "/api/tickets/999/comments", {"body": "x"}, 404),
    post("comment-create-missing-ticket-bad-body", "/api/tickets/999/comments", {}, 422),
    post("comment-create-not-int", "/api/tickets/abc/comments", {"body": "x"}, 404),
    post(
        "comment-create-customer-other",
        "/api/tickets/2/comments",
        {"body": "x"},
        404,
        auth="customer",
    ),
    post("comment-create-no-auth", COMMENTS_1, {"body": "x"}, 401, auth=None),
    post(
        "comment-create-bad-token",
        COMMENTS_1,
        {"body": "x"},
        401,
        auth=None,
        headers={"X-Token": "nope"},
    ),
    post(
        "comment-create-no-auth-invalid-json",
        COMMENTS_1,
        None,
        401,
        auth=None,
        raw=b"[",
        content_type="application/json",
    ),
    post(
        "comment-create-invalid-json",
        COMMENTS_1,
        None,
        400,
        raw=b"[",
        content_type="application/json",
    ),
    post("comment-create-list-body", COMMENTS_1, ["x"], 400),
    get("comments-list-after-create", COMMENTS_1 + "?per_page=100"),
    get("get-after-comment", "/api/tickets/1"),
    get("list-final", "/api/tickets?per_page=100"),
    get("list-final-customer", "/api/tickets?per_page=100", auth="customer"),
]

CASES = HEALTH_AND_ME + LIST_TICKETS + GET_TICKET + CREATE_TICKET + UPDATE_TICKET + COMMENTS


@dataclass(frozen=True)
class Servers:
    legacy: httpx.Client
    new: httpx.Client
    cookies: dict[str, str]


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    directory = tmp_path_factory.mktemp("parity")
    seed = seed_database(directory / "seed.db")
    with (
        legacy_server(copy_database(seed, directory / "legacy.db")) as legacy,
        new_server(copy_database(seed, directory / "new.db")) as new,
    ):
        # Sessions come from the legacy login only: the rewrite has no /login yet.
        cookies = {who: login_cookie(legacy, who) for who in ("customer", "agent")}
        with legacy.client() as legacy_client, new.client() as new_client:
            yield Servers(legacy_client, new_client, cookies)


def request_headers(case: Case, cookies: dict[str, str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    if case.auth is not None and case.auth.startswith("cookie:"):
        headers.update(cookie_header(cookies[case.auth.removeprefix("cookie:")]))
    elif case.auth is not None:
        headers["X-Token"] = TOKENS[case.auth]
    if case.raw is None and case.body is not NO_BODY:
        headers["Content-Type"] = "application/json"
    if case.content_type is not None:
        headers["Content-Type"] = case.content_type
    return {**headers, **case.headers}


def request_content(case: Case) -> bytes | None:
    if case.raw is not None:
        return case.raw
    if case.body is NO_BODY:
        return None
    return json.dumps(case.body).encode()


def send(client: httpx.Client, case: Case, cookies: dict[str, str]) -> httpx.Response:
    return client.request(
        case.method,
        case.path,
        headers=request_headers(case, cookies),
        content=request_content(case),
    )


def normalise(value: Any, key: str | None = None) -> Any:
    """Volatile fields replaced by a marker; everything else kept as is.

    `created_at`/`updated_at` of rows written during the test are each server's wall-clock
    time and may differ by a second between the two servers. They must still be valid
    timestamps in the legacy format, and seed timestamps are compared exactly.
    """
    if isinstance(value, dict):
        return {k: normalise(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(item) for item in value]
    if key in ("created_at", "updated_at") and isinstance(value, str):
        moment = datetime.fromisoformat(value)
        assert moment.tzinfo is not None and value.endswith("+00:00"), value
        if moment >= WRITTEN_DURING_TEST:
            return "<written during the test>"
    return value


# Each server's own (Date, Server, Connection), or following from the body, which is compared
# as JSON: Flask escapes non-ASCII characters and Starlette does not, so byte lengths differ.
# Every other header is compared, so one that either side adds later is compared too.
SERVER_HEADERS = frozenset(
    {"date", "server", "connection", "keep-alive", "content-length", "transfer-encoding"}
)
# Lists whose order and case carry no meaning: `Vary: Cookie` equals `vary: cookie`.
TOKEN_LIST_HEADERS = frozenset({"vary", "allow", "access-control-allow-methods"})


def cookie_shape(set_cookie: str) -> tuple[str, list[str]]:
    """A Set-Cookie as its name and attributes: each side signs a session with its own
    timestamp, so values differ; `Expires` is each server's clock, so only its presence counts."""
    name, _, rest = set_cookie.partition("=")
    attributes = []
    for attribute in rest.split(";")[1:]:
        key, sep, value = attribute.strip().partition("=")
        key = key.lower()
        attributes.append(key if key == "expires" or not sep else f"{key}={value}")
    return name.strip(), sorted(attributes)


def test_cookies_are_compared_by_name_and_attributes() -> None:
    one = cookie_shape("session=abc.1; Expires=Sat, 01 Jan 2028 00:00:00 GMT; HttpOnly; Path=/")
    two = cookie_shape("session=xyz.2; path=/; httponly; expires=Sun, 02 Jan 2028 00:00:01 GMT")
    assert one == two == ("session", ["expires", "httponly", "path=/"])
    assert cookie_shape("session=a; Path=/; Secure") != cookie_shape("session=a; Path=/")


def comparable_headers(response: httpx.Response) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    for name in {key.lower() for key in response.headers} - SERVER_HEADERS:
        values = response.headers.get_list(name)
        if name in TOKEN_LIST_HEADERS:
            headers[name] = sorted(
                {token.strip().lower() for value in values for token in value.split(",")}
            )
        elif name == "set-cookie":
            headers[name] = sorted(cookie_shape(value) for value in values)
        else:
            headers[name] = values
    return headers


def comparable(response: httpx.Response) -> dict[str, Any]:
    body: Any = response.content
    # HEAD answers carry the JSON content type but no body.
    if response.content and response.headers.get("content-type") == "application/json":
        body = normalise(response.json())
    return {
        "status": response.status_code,
        "headers": comparable_headers(response),
        "body": body,
    }


def served_by_rewrite(path: str) -> set[str]:
    """The methods the rewrite serves on `path`, lower-cased; HEAD wherever GET is served."""
    methods = {
        endpoint.method.lower()
        for endpoint in migrated_endpoints()
        if compile_path(endpoint.path)[0].fullmatch(path)
    }
    return methods | {"head"} if "get" in methods else methods


def legacy_allow_as_rewrite(legacy: dict[str, Any], path: str) -> dict[str, Any]:
    """The legacy answer with `Allow` limited to what the rewrite could list.

    Flask also lists OPTIONS, which it answers by itself for every rule (the rewrite does not
    model that), and methods of endpoints still served by the legacy app only (DELETE on a
    ticket); anything else the legacy app allows there, the rewrite must list too.
    """
    headers = legacy["headers"]
    if "allow" not in headers:
        return legacy
    allow = sorted(set(headers["allow"]) & served_by_rewrite(path))
    return {**legacy, "headers": {**headers, "allow": allow}}


@pytest.mark.parametrize("case", CASES)
def test_same_response(servers: Servers, case: Case) -> None:
    legacy = comparable(send(servers.legacy, case, servers.cookies))
    new = comparable(send(servers.new, case, servers.cookies))
    assert legacy["status"] == case.status, legacy
    assert new == legacy_allow_as_rewrite(legacy, urlsplit(case.path).path)


def case_objects() -> list[Case]:
    cases = [param.values[0] for param in CASES]
    return [case for case in cases if isinstance(case, Case)]


def test_case_ids_are_unique() -> None:
    ids = [param.id for param in CASES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(
    "endpoint", [pytest.param(e, id=f"{e.method} {e.path}") for e in migrated_endpoints()]
)
def test_every_migrated_endpoint_is_covered(endpoint: Endpoint) -> None:
    """Each migrated endpoint has a success case and, if clients can make it fail, an error case.

    /health is public and takes no input: only a broken database makes it fail.
    """
    regex, _, _ = compile_path(endpoint.path)
    statuses = {
        case.status
        for case in case_objects()
        if case.method == endpoint.method and regex.fullmatch(urlsplit(case.path).path)
    }
    assert any(s < 400 for s in statuses), f"no success case for {endpoint}"
    if endpoint.path.startswith("/api/"):
        assert any(s >= 400 for s in statuses), f"no error case for {endpoint}"


SHADOW_EVERY_READ = "routes:\n" + "".join(
    f"  - {{path: '{endpoint.path}', methods: [GET], target: shadow, "
    "shadow: {concurrency: 1000, timeout: 30, summary_every: 0}}\n"
    for endpoint in migrated_endpoints()
    if endpoint.method == "GET"
)


def shadow_outcomes(server: ServerProcess) -> dict[str, float]:
    """gateway_shadow_comparisons_total summed over routes, by outcome."""
    totals: dict[str, float] = {}
    for line in httpx.get(server.base_url + "/metrics").text.splitlines():
        if line.startswith("gateway_shadow_comparisons_total{"):
            series, _, value = line.rpartition(" ")
            outcome = series.split('outcome="')[1].split('"')[0]
            totals[outcome] = totals.get(outcome, 0) + float(value)
    return totals


def test_the_gateway_finds_no_difference_on_any_migrated_read(tmp_path: Path) -> None:
    """Every read case, shadowed through `gateway serve`, whose comparison covers every header
    (Vary included): the example's two apps must be indistinguishable to it too."""
    routes = tmp_path / "routes.yaml"
    routes.write_text(SHADOW_EVERY_READ)
    table = parse_routes(SHADOW_EVERY_READ.encode(), "routes.yaml")
    database = seed_database(tmp_path / "helpdesk.db")
    reads = [c for c in case_objects() if c.method in ("GET", "HEAD")]
    with run_gateway(
        routes,
        legacy_app="legacy_app.wsgi:app",
        new_app="new_app.main:app",
        env=app_env(database),
    ) as gateway:
        cookies = {who: login_cookie(gateway, who) for who in ("customer", "agent")}
        copied = 0
        with gateway.client() as client:
            for read in reads:
                response = send(client, read, cookies)
                assert response.headers["x-gateway-side"] == "legacy"
                copied += table.match(urlsplit(read.path).path, read.method) is not None
        wait_for(lambda: sum(shadow_outcomes(gateway).values()) == copied, 30)
        outcomes = shadow_outcomes(gateway)
        mismatches = [line for line in gateway.log().splitlines() if '"shadow_' in line]
    assert copied > 30 and outcomes.get("match") == copied, (outcomes, mismatches)
