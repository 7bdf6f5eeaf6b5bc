"""`Vary: Cookie` on every response that depended on the session cookie, as Flask sends it.

Flask adds the header whenever a request read the session (`session.accessed`), whatever the
outcome: the legacy app reads it in `before_request` for every /api request without an
X-Token header, so its 200s and 401s alike carry `Vary: Cookie`. Without it a shared cache may
serve one user's `/api/me` to the next, and shadow comparisons differ on every such request.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_SCOPE_KEY = "helpdesk.session_use"


@dataclass
class _SessionUse:
    read: bool = False


def mark_session_read(request: Request) -> None:
    """Call wherever the legacy app would have touched `flask.session`."""
    use = request.scope.get(_SCOPE_KEY)
    if isinstance(use, _SessionUse):
        use.read = True


class SessionVaryMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # A fresh marker per request, reached through the scope: inner middleware may copy the
        # scope dict, but they copy the reference to this object.
        use = _SessionUse()

        async def send_with_vary(message: Message) -> None:
            if message["type"] == "http.response.start" and use.read:
                MutableHeaders(scope=message).add_vary_header("Cookie")
            await send(message)

        await self.app({**scope, _SCOPE_KEY: use}, receive, send_with_vary)
