"""`LegacyState`: the legacy Flask app's session, user and hooks, for a FastAPI app's endpoints.

Every method takes the incoming request, so each one is a FastAPI dependency as it is
(`Depends(legacy.current_user)`) and can also be awaited from an endpoint or a helper.

Legacy code runs in worker threads, a few at a time (`threads`), never on the event loop: user
loaders, hooks and helpers query databases. The one exception is Flask's own signed-cookie
session, opened and saved in place: checking and writing a signature costs microseconds, less
than the hand-off to a thread.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, ParamSpec, TypeVar

from anyio import CapacityLimiter, to_thread
from flask import Flask
from flask.sessions import SecureCookieSessionInterface, SessionMixin
from flask.wrappers import Response as FlaskResponse
from starlette.requests import Request

from gateway.compat.flask.answers import LegacyAnswer
from gateway.compat.flask.calls import Value, match_path, settle, with_hooks
from gateway.compat.flask.login import Login, find_login, no_login_manager
from gateway.compat.flask.request_state import RequestState, states_of

DEFAULT_THREADS = 8

P = ParamSpec("P")
T = TypeVar("T")


class LegacyState:
    def __init__(self, app: Flask, *, threads: int = DEFAULT_THREADS) -> None:
        """`app`: the Flask app itself (the one the gateway serves), not a WSGI wrapper around
        it. `threads`: how many legacy calls of all requests run at once; more wait their turn
        on the event loop."""
        if not isinstance(app, Flask):
            raise TypeError(f"LegacyState needs the Flask app itself, got {type(app).__name__}")
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        self.app = app
        self.threads = threads
        # Made on first use, on the event loop: older anyio releases can make one nowhere else.
        self._limiter: CapacityLimiter | None = None
        self._login: Login | None = None

    async def session(self, request: Request) -> SessionMixin:
        """The legacy session of this request, opened by the app's `session_interface`, one
        object for the whole request. Changes are saved onto the response by
        `LegacyStateMiddleware`."""
        state = self._state(request)
        if state.session is None:
            if self._signed_cookie_session():
                state.open_session()
            else:
                await self._in_thread(_push_and_pop, state)
        session = state.session
        assert session is not None  # opened above, or by pushing a context
        # What Flask does when code reaches the session through the request context: the
        # response depends on the cookie (`Vary: Cookie`), read or written.
        session.accessed = True
        return session

    async def current_user(self, request: Request) -> Any:
        """Flask-Login's user; for an anonymous caller, the answer of the app's own
        `login_required` (a 401, or a redirect to its login view) is raised as LegacyAnswer."""
        login = self._login_manager()
        return await self._call(request, lambda: login.required(Value))

    async def optional_user(self, request: Request) -> Any:
        """Flask-Login's user, or its anonymous user (`is_authenticated` False)."""
        login = self._login_manager()
        return await self._call(request, lambda: Value(login.user()))

    async def login_user(
        self,
        request: Request,
        user: Any,
        *,
        remember: bool = False,
        duration: timedelta | None = None,
        force: bool = False,
        fresh: bool = True,
    ) -> bool:
        """Flask-Login's `login_user`, with its effect on the session and remember cookie."""
        login = self._login_manager()
        options = {"remember": remember, "duration": duration, "force": force, "fresh": fresh}
        return bool(await self._call(request, lambda: Value(login.login_user(user, **options))))

    async def logout_user(self, request: Request) -> bool:
        login = self._login_manager()
        return bool(await self._call(request, lambda: Value(login.logout_user())))

    async def run(
        self, request: Request, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`fn(*args, **kwargs)` as the legacy app would run a view for this request: in a
        request context with its path, headers, query, body and session, after the url value
        preprocessors and before_request hooks Flask runs for the path, with teardown after.
        A hook's response, an `abort()` or an exception the app's error handlers answer is
        raised as LegacyAnswer."""
        body = await _read_body(request)
        call = with_hooks(self.app, fn, args, kwargs)
        value: T = await self._call(request, call, body=body, hooks=True)
        return value

    async def save(self, state: RequestState) -> FlaskResponse | None:
        """Called by `LegacyStateMiddleware` as the response starts: the session saved onto a
        blank response, as Flask's `process_response` saves it (Flask-Login's remember cookie
        first); None if this request never opened it."""
        if state.session is None:
            return None
        response = self.app.response_class()
        login = self._login_if_any()
        if login is not None and not login.remember_cookie_due(state.session, self.app.config):
            login = None
        if login is None and self._signed_cookie_session(save=True):
            _save_session(self.app, state.session, response)
        else:
            await self._in_thread(_save_in_context, state, response, login)
        return response

    async def _call(
        self,
        request: Request,
        call: Callable[[], object],
        *,
        body: bytes | None = None,
        hooks: bool = False,
    ) -> Any:
        state = self._state(request)

        def work() -> Value[Any] | LegacyAnswer:
            with state.pushed(body) as context:
                if hooks:
                    match_path(context)
                return settle(self.app, call)

        outcome = await self._in_thread(work)
        if isinstance(outcome, LegacyAnswer):
            raise outcome
        return outcome.value

    async def _in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        if self._limiter is None:
            self._limiter = CapacityLimiter(self.threads)
        # Not abandoned when the request is cancelled: the thread must pop its context, and
        # a thread still running keeps its place in the limit, which therefore holds.
        return await to_thread.run_sync(fn, *args, limiter=self._limiter)

    def _state(self, request: Request) -> RequestState:
        return states_of(request.scope).get(self, self.app, request.scope)

    def _login_manager(self) -> Login:
        login = self._login_if_any()
        if login is None:
            raise no_login_manager(self.app)
        return login

    def _login_if_any(self) -> Login | None:
        # Looked up on first use, not in __init__: app factories often call
        # login_manager.init_app after building what imports the app.
        if self._login is None:
            self._login = find_login(self.app)
        return self._login

    def _signed_cookie_session(self, *, save: bool = False) -> bool:
        """The app's session is Flask's signed cookie, whose open and save use no context and
        do no I/O, as long as a subclass did not replace them."""
        interface = type(self.app.session_interface)
        stock = SecureCookieSessionInterface
        if save:
            return interface.save_session is stock.save_session
        return interface.open_session is stock.open_session


async def _read_body(request: Request) -> bytes | None:
    """The body for the legacy request, read once and kept by Starlette for the endpoint too.
    None once the endpoint consumed it as a stream (e.g. multipart form parsing)."""
    try:
        return await request.body()
    except RuntimeError:  # Starlette's "Stream consumed"
        return None


def _push_and_pop(state: RequestState) -> None:
    with state.pushed():
        pass


def _save_in_context(state: RequestState, response: FlaskResponse, login: Login | None) -> None:
    assert state.session is not None
    with state.pushed():
        if login is not None:
            login.update_remember_cookie(response)
        _save_session(state.app, state.session, response)


def _save_session(app: Flask, session: SessionMixin, response: FlaskResponse) -> None:
    if not app.session_interface.is_null_session(session):
        app.session_interface.save_session(app, session, response)
