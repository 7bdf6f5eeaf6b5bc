"""Error answers that need a request the HTTP clients in the server tests cannot send."""

from __future__ import annotations

from pathlib import Path

import anyio
from starlette.types import Message

from legacy_app.settings import Settings
from new_app.errors import CLIENT_CLOSED_REQUEST
from new_app.main import create_app
from tests.helpdesk import TOKENS, sqlite_url


def test_a_client_gone_before_its_body_is_no_server_error(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=sqlite_url(tmp_path / "helpdesk.db"), secret_key="k"))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/tickets",
        "raw_path": b"/api/tickets",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"test"),
            (b"content-type", b"application/json"),
            (b"content-length", b"100"),
            (b"x-token", TOKENS["agent"].encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    async def main() -> None:
        async with app.router.lifespan_context(app):
            # Unhandled, the disconnect would be re-raised here after a 500.
            await app(scope, receive, send)

    anyio.run(main)
    assert sent[0]["status"] == CLIENT_CLOSED_REQUEST
