"""The new app's own documentation pages (FastAPI's /docs, /redoc, /openapi.json) and where the
routes file sends them.

Through the gateway, a path no entry names goes to the default side, legacy, which answers 404
for FastAPI's pages: a surprise the first time one opens /docs. The gateway says so in its log,
once at start and again whenever a reload changes which of these pages are routed elsewhere.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from gateway.routing.table import RouteTable
from gateway.side_names import NEW

logger = logging.getLogger("gateway")

PAGE_ATTRIBUTES = ("docs_url", "redoc_url", "openapi_url")  # FastAPI's; None: switched off


def docs_pages(new_app: object) -> list[str]:
    """The paths of the new app's documentation pages (none for an app that is not FastAPI)."""
    pages = [getattr(new_app, name, None) for name in PAGE_ATTRIBUTES]
    return [page for page in pages if isinstance(page, str) and page.startswith("/")]


def unrouted(pages: list[str], table: RouteTable) -> list[str]:
    return [page for page in pages if table.target_for(page, "GET") != NEW]


def docs_routing_note(new_app: object) -> Callable[[RouteTable], None]:
    """For a table swap: log which of the new app's pages the table sends elsewhere, when that
    set changes."""
    pages = docs_pages(new_app)
    said: list[str] = []

    def note(table: RouteTable) -> None:
        missing = unrouted(pages, table)
        if missing == said:
            return
        said[:] = missing
        if missing:
            logger.info(
                "the new app's %s %s not served through the gateway: the routes file sends "
                "them to %s, which answers 404 there. To serve them, add entries with "
                "target: new for each (docs/routes-file.md, 'The new app's /docs')",
                ", ".join(missing),
                "is" if len(missing) == 1 else "are",
                " or ".join(sorted({table.target_for(page, "GET") for page in missing})),
            )

    return note
