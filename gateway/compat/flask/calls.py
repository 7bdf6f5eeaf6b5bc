"""What runs inside a legacy request context: the hooks Flask would run, then the call; and the
outcome, a value for the new endpoint or the legacy app's own answer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from flask import Flask
from flask.ctx import RequestContext
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from gateway.compat.flask.answers import LegacyAnswer, starlette_response

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Value(Generic[T]):
    """What the call returned, told apart from a response value the legacy app answered with."""

    value: T


def settle(app: Flask, call: Callable[[], object]) -> Value[Any] | LegacyAnswer:
    """`call()`'s Value, or the answer Flask would have sent instead: a response value returned
    by a hook or by `login_required`, an HTTPException (`abort`), or any exception one of the
    app's error handlers turns into a response. Exceptions it has no handler for propagate."""
    try:
        result = call()
    except Exception as error:
        result = app.handle_user_exception(error)  # re-raises what no handler takes
    if isinstance(result, Value):
        return result
    return LegacyAnswer(starlette_response(app.make_response(result)))  # type: ignore[arg-type]


def with_hooks(app: Flask, fn: Callable[..., T], args: Any, kwargs: Any) -> Callable[[], object]:
    """As Flask's `full_dispatch_request` runs a view: url value preprocessors and
    before_request hooks (the app's, then those of the blueprints of the matched rule), and the
    call in place of the view unless a hook answered."""

    def call() -> object:
        answer = app.preprocess_request()
        if answer is not None:
            return answer
        return Value(app.ensure_sync(fn)(*args, **kwargs))

    return call


def match_path(context: RequestContext) -> None:
    """Take the legacy rule of the path even when the rule lacks this request's method.

    The new side may serve a method the legacy app never had (a POST beside a legacy GET):
    Flask's match then fails with 405 and no rule, so no blueprint hooks would run. The
    blueprint's hooks guard the path, so they run here. A path with no legacy rule keeps its
    404 as routing exception, never raised: only the app-wide hooks run, as Flask runs them
    before it answers 404.
    """
    request = context.request
    error = request.routing_exception
    if context.url_adapter is None or not isinstance(error, MethodNotAllowed):
        return
    for method in error.valid_methods or ():
        try:
            rule, view_args = context.url_adapter.match(method=method, return_rule=True)
        except HTTPException:
            continue
        request.url_rule, request.view_args = rule, dict(view_args)
        request.routing_exception = None
        return
