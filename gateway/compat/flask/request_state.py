"""What one new-side request holds of the legacy app: its WSGI environ and its session.

Flask keeps a request's session on its request context, which lives in one thread. A FastAPI
request reaches the legacy app from several places (a dependency, the endpoint, each
`legacy.run` in a worker thread, the save when the response starts), so the session is opened
once here and handed to every legacy request context built for the request. Everything that
reads or writes it sees the same object, and one save at the end writes what all of them did.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from flask import Flask
from flask.ctx import RequestContext
from flask.sessions import SessionMixin
from starlette.datastructures import MutableHeaders
from starlette.types import Message, Scope
from werkzeug.wrappers import Response as WerkzeugResponse

from gateway.wsgi.environ import build_environ

SCOPE_KEY = "gateway.compat.flask"


class MiddlewareMissing(RuntimeError):
    pass


class RequestState:
    def __init__(self, app: Flask, scope: Scope) -> None:
        self.app = app
        self.session: SessionMixin | None = None
        self.environ = build_environ(scope, io.BytesIO())
        # Two legacy calls of one request may start at once (asyncio.gather): the first to
        # push a context opens the session, the other must wait for it, not open another.
        self._opening = threading.Lock()

    def open_session(self) -> SessionMixin:
        """Opened as Flask's RequestContext.push opens it, without a context: for interfaces
        known to need none (Flask's own signed cookie)."""
        with self._opening:
            if self.session is None:
                interface = self.app.session_interface
                request = self.app.request_class(self.environ_for(b""))
                opened = interface.open_session(self.app, request)
                if opened is None:  # Flask's answer: a null session, usable but never saved
                    opened = interface.make_null_session(self.app)
                self.session = opened
            return self.session

    def environ_for(self, body: bytes | None) -> dict[str, Any]:
        """A fresh environ per context (Werkzeug caches its request in it). `body` None: the
        body was not read, and the legacy code sees none."""
        return {**self.environ, "wsgi.input": io.BytesIO(body or b"")}

    @contextmanager
    def pushed(self, body: bytes | None = None) -> Iterator[RequestContext]:
        """A legacy request context for this request, with its session; popped (teardown
        functions run) when the block ends. Call from one thread: Flask's contexts are
        context variables of the thread that pushes them."""
        with self._opening:
            context = RequestContext(self.app, self.environ_for(body), session=self.session)
            context.push()
            if self.session is None:
                self.session = _session_of(context)
        error: BaseException | None = None
        try:
            yield context
        except BaseException as exc:
            error = exc
            raise
        finally:
            context.pop(error)


def _session_of(context: RequestContext) -> SessionMixin:
    # Flask 3.1 marks the session accessed (so `Vary: Cookie`) when it is read through the
    # context's `session` property, and keeps it in `_session`; earlier releases keep it in a
    # plain `session` attribute. Opening it is no access.
    session = vars(context).get("_session")
    if isinstance(session, SessionMixin):
        return session
    opened: SessionMixin = context.session
    return opened


class Saver(Protocol):
    def save(self, state: RequestState) -> Awaitable[WerkzeugResponse | None]: ...


class RequestStates:
    """Per request: the state of each `LegacyState` the request used, in the order used."""

    def __init__(self) -> None:
        self._states: dict[Saver, RequestState] = {}

    def get(self, owner: Saver, app: Flask, scope: Scope) -> RequestState:
        state = self._states.get(owner)
        if state is None:
            state = self._states[owner] = RequestState(app, scope)
        return state

    async def save_onto(self, message: Message) -> None:
        """Each session saved as Flask would save it onto a response: its Set-Cookie headers
        and `Vary: Cookie` go onto the response starting (`http.response.start`)."""
        if not self._states:
            return
        headers = MutableHeaders(scope=message)
        for owner, state in self._states.items():
            saved = await owner.save(state)
            if saved is not None:
                _copy_session_headers(saved, headers)


def _copy_session_headers(saved: WerkzeugResponse, headers: MutableHeaders) -> None:
    for cookie in saved.headers.getlist("Set-Cookie"):
        headers.append("set-cookie", cookie)
    present = {token.strip().lower() for token in headers.get("vary", "").split(",")}
    for token in saved.vary:
        if token.lower() not in present:
            headers.add_vary_header(token)
            present.add(token.lower())


def states_of(scope: Scope) -> RequestStates:
    states = scope.get(SCOPE_KEY)
    if not isinstance(states, RequestStates):
        raise MiddlewareMissing(
            "the legacy session is saved onto the response by LegacyStateMiddleware, which "
            "this app lacks: app.add_middleware(LegacyStateMiddleware)"
        )
    return states
