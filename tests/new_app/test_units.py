"""In-process checks: lifespan state, the request context, error wording, the legacy app."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from gateway.compat.flask import RequestLocalUnset
from legacy_app.settings import Settings
from new_app.context import current
from new_app.main import Endpoint, create_app, migrated_endpoints
from new_app.validation_messages import describe_validation_error
from tests.helpdesk import sqlite_url


def test_lifespan_initialises_the_app(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=sqlite_url(tmp_path / "x.db"), secret_key="k"))
    assert app.state.started is False

    async def run() -> None:
        async with app.router.lifespan_context(app):
            assert app.state.started is True
            assert app.state.database is not None

    asyncio.run(run())
    assert (tmp_path / "x.db").exists()


def test_database_threads_must_be_positive() -> None:
    with pytest.raises(ValueError, match="database_threads must be at least 1, got 0"):
        create_app(Settings(secret_key="k"), database_threads=0)


def test_current_outside_a_request_is_a_clear_error() -> None:
    with pytest.raises(RequestLocalUnset, match="helpdesk.request_context is not set"):
        current()


def test_the_legacy_app_is_built_with_the_same_settings(tmp_path: Path) -> None:
    settings = Settings(database_url=sqlite_url(tmp_path / "x.db"), secret_key="k")
    legacy = create_app(settings).state.legacy.app
    assert legacy.secret_key == "k"
    assert legacy.config["SESSION_COOKIE_NAME"] == settings.session_cookie_name
    assert legacy.config["DATABASE_URL"] == settings.database_url


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        pytest.param(
            {"type": "missing", "loc": ("body", "title")},
            (422, "'title' is required"),
            id="missing",
        ),
        pytest.param(
            {"type": "string_too_long", "loc": ("body", "title"), "ctx": {"max_length": 200}},
            (422, "'title' must be at most 200 characters"),
            id="too-long",
        ),
        pytest.param(
            {
                "type": "literal_error",
                "loc": ("query", "status"),
                "ctx": {"expected": "'a' or 'b'"},
            },
            (400, "Query parameter 'status' must be one of: a, b"),
            id="literal-query",
        ),
        pytest.param(
            {"type": "json_invalid", "loc": ("body", 3)},
            (400, "Request body must be a JSON object"),
            id="json-invalid",
        ),
        pytest.param(
            {"type": "something_new", "loc": ("body", "x")},
            (422, "'x' is invalid"),
            id="unknown-type",
        ),
    ],
)
def test_validation_messages(error: dict[str, Any], expected: tuple[int, str]) -> None:
    assert describe_validation_error([error]) == expected


def test_migrated_endpoints() -> None:
    assert set(migrated_endpoints()) == {
        Endpoint("GET", "/health"),
        Endpoint("GET", "/api/me"),
        Endpoint("GET", "/api/tickets"),
        Endpoint("POST", "/api/tickets"),
        Endpoint("GET", "/api/tickets/{ticket_id:int}"),
        Endpoint("PATCH", "/api/tickets/{ticket_id:int}"),
        Endpoint("GET", "/api/tickets/{ticket_id:int}/comments"),
        Endpoint("POST", "/api/tickets/{ticket_id:int}/comments"),
    }
