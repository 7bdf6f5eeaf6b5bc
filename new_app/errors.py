"""The legacy error shape, for FastAPI's errors as well as ours:

    {"error": {"status": 404, "code": "not_found", "message": "Ticket 999 not found"}}

Clients of the Flask app parse this shape, so FastAPI's `{"detail": ...}` must never leak out.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from werkzeug.exceptions import default_exceptions

from new_app.allowed_methods import AllowedMethods
from new_app.validation_messages import describe_validation_error

logger = logging.getLogger(__name__)

CLIENT_CLOSED_REQUEST = 499

ERROR_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    500: "internal_error",
    503: "service_unavailable",
}


class ApiError(Exception):
    """What the legacy app expressed as `abort(status, message)`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


def invalid_field(field: str, problem: str) -> ApiError:
    """A 422 for a body field that is well-formed but wrong, e.g. an id of the wrong kind."""
    return ApiError(422, f"'{field}' {problem}")


def default_message(status: int) -> str:
    # Werkzeug's own wording: routing errors (unknown path, wrong method) carry no message of
    # ours, and clients compare the text Flask gave them.
    exception = default_exceptions.get(status)
    if exception is not None and exception.description:
        return exception.description
    return HTTPStatus(status).phrase


def error_response(
    status: int, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    code = ERROR_CODES.get(status) or HTTPStatus(status).phrase.lower().replace(" ", "_")
    body = {"error": {"status": status, "code": code, "message": message}}
    return JSONResponse(body, status_code=status, headers=headers)


async def _handle_api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.message)


def _http_exception_handler(
    allowed: AllowedMethods,
) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def handle(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = allowed.header(_route_path(request))
        # The body is always ours.
        return error_response(exc.status_code, default_message(exc.status_code), headers)

    return handle


def _route_path(request: Request) -> str:
    # What Starlette's routes match against: the path below the app's mount point.
    path: str = request.scope["path"]
    root_path: str = request.scope.get("root_path", "")
    return path.removeprefix(root_path) if root_path else path


async def _handle_validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    status, message = describe_validation_error(exc.errors())
    return error_response(status, message)


async def _handle_client_disconnect(_request: Request, _exc: Exception) -> Response:
    # The client left before its body arrived (a load generator's timeout, most often): nothing
    # was changed and nobody will read the answer. Unhandled, it would be a 500 with a
    # traceback in the log for every such request. 499 is nginx's "client closed request",
    # so access logs and metrics count it on the client's side.
    return Response(status_code=CLIENT_CLOSED_REQUEST)


async def _handle_unexpected(_request: Request, exc: Exception) -> JSONResponse:
    # Starlette's ServerErrorMiddleware calls this, then re-raises so the server logs it.
    return error_response(500, default_message(500))


def install_error_handlers(app: FastAPI, allowed: AllowedMethods) -> None:
    app.add_exception_handler(ApiError, _handle_api_error)
    app.add_exception_handler(StarletteHTTPException, _http_exception_handler(allowed))
    app.add_exception_handler(RequestValidationError, _handle_validation_error)
    app.add_exception_handler(ClientDisconnect, _handle_client_disconnect)
    app.add_exception_handler(Exception, _handle_unexpected)
