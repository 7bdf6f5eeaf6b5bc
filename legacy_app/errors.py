"""Every error, from `abort()` or from Werkzeug's routing, leaves as one JSON shape:

{"error": {"status": 404, "code": "not_found", "message": "Ticket 999 not found"}}
"""

from __future__ import annotations

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException, MethodNotAllowed

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


def error_code(status: int, name: str) -> str:
    return ERROR_CODES.get(status) or name.lower().replace(" ", "_").replace("'", "")


def handle_http_exception(exc: HTTPException) -> Response:
    status = exc.code or 500
    response = jsonify(
        error={
            "status": status,
            "code": error_code(status, exc.name),
            "message": exc.description or exc.name,
        }
    )
    response.status_code = status
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


def init_app(app: Flask) -> None:
    # Unhandled exceptions reach this handler too, as InternalServerError, after Flask logs them.
    app.register_error_handler(HTTPException, handle_http_exception)
