"""`LegacyStateMiddleware`: the legacy session saved onto every response that used it.

Pure ASGI, so it sees the response start whatever produced it: data the endpoint returned, a
Response it built itself, an error handler's answer, the legacy app's own answer. A dependency
cannot do this: the exit of a `yield` dependency runs too late to add headers, and FastAPI's
injected Response is dropped when the endpoint returns a Response of its own.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.compat.flask.answers import LegacyAnswer
from gateway.compat.flask.request_state import SCOPE_KEY, RequestStates


class LegacyStateMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # A fresh holder per request, reached through the scope: inner middleware and routers
        # may copy the scope dict, but they copy the reference to this object.
        states = RequestStates()
        scope = {**scope, SCOPE_KEY: states}
        started = False

        async def send_with_session(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                await states.save_onto(message)
            await send(message)

        try:
            await self.app(scope, receive, send_with_session)
        except LegacyAnswer as answer:
            if started:
                raise
            await answer.response(scope, receive, send_with_session)
