"""The log says why the new app's /docs answers 404 through the gateway, once per change."""

from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI

from gateway.config.routes_file import parse_routes
from gateway.guide.docs_pages import docs_pages, docs_routing_note
from gateway.routing.table import RouteTable


def table(text: str) -> RouteTable:
    return parse_routes(text.encode(), "routes.yaml")


def test_the_pages_of_a_fastapi_app() -> None:
    assert docs_pages(FastAPI()) == ["/docs", "/redoc", "/openapi.json"]
    assert docs_pages(FastAPI(docs_url=None, redoc_url=None)) == ["/openapi.json"]
    assert docs_pages(object()) == []  # not FastAPI: nothing to say


def test_a_note_when_the_table_sends_them_elsewhere(caplog: pytest.LogCaptureFixture) -> None:
    note = docs_routing_note(FastAPI(redoc_url=None))
    with caplog.at_level(logging.INFO, logger="gateway"):
        note(table("routes: []\n"))
        note(table("routes:\n  - {path: /other, target: new}\n"))  # same pages elsewhere
        note(table("routes:\n  - {path: /docs, target: new}\n"))
        note(
            table(
                "routes:\n  - {path: /docs, target: new}\n"
                "  - {path: /openapi.json, methods: [GET], target: new}\n"
            )
        )
    first, second = [record.getMessage() for record in caplog.records]
    assert first.startswith("the new app's /docs, /openapi.json are not served through the")
    assert "sends them to legacy, which answers 404" in first
    assert second.startswith("the new app's /openapi.json is not served")
    # Once both are routed to the new side, nothing more is said.
