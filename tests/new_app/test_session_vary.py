"""`Vary: Cookie` exactly on the responses whose request read the session."""

from __future__ import annotations

import anyio
import httpx
import pytest
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from new_app.session_vary import SessionVaryMiddleware, mark_session_read


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    request = Request(scope, receive)
    if request.url.path.startswith("/reads"):
        mark_session_read(request)
    headers = [(b"content-type", b"text/plain")]
    if request.url.path.endswith("/varies"):
        headers.append((b"vary", b"Accept-Encoding"))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"ok"})


def get_vary(path: str) -> list[str]:
    async def main() -> list[str]:
        transport = httpx.ASGITransport(app=SessionVaryMiddleware(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get(path)
        return response.headers.get_list("vary")

    return anyio.run(main)


@pytest.mark.parametrize(
    ("path", "vary"),
    [
        pytest.param("/reads", ["Cookie"], id="read"),
        pytest.param("/reads/varies", ["Accept-Encoding, Cookie"], id="read-merged"),
        pytest.param("/ignores", [], id="not-read"),
        pytest.param("/ignores/varies", ["Accept-Encoding"], id="not-read-kept"),
    ],
)
def test_vary_cookie_only_when_the_session_was_read(path: str, vary: list[str]) -> None:
    assert get_vary(path) == vary


def test_a_mark_outside_the_middleware_is_harmless() -> None:
    request = Request({"type": "http", "method": "GET", "path": "/", "headers": []})
    mark_session_read(request)
