"""JSON request bodies, read the way Flask's `request.get_json(silent=True)` read them.

A plain body parameter would make FastAPI decode the JSON before any dependency runs, so a
malformed body from an anonymous client would get 400 where the legacy app, which
authenticates first in `before_request`, answers 401. Parsing in a dependency keeps the order.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from new_app.errors import ApiError
from new_app.validation_messages import BODY_NOT_OBJECT

ModelT = TypeVar("ModelT", bound=BaseModel)


def json_body(model: type[ModelT]) -> Callable[[Request], Awaitable[ModelT]]:
    async def parse(request: Request) -> ModelT:
        data = _flask_get_json(request.headers.get("content-type", ""), await request.body())
        if not isinstance(data, dict):
            raise ApiError(400, BODY_NOT_OBJECT)
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            errors = [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
            raise RequestValidationError(errors) from exc

    return parse


def _flask_get_json(content_type: str, body: bytes) -> object:
    """The decoded body, or None where Flask's silent get_json() gives None."""
    if not _is_json(content_type):
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def _is_json(content_type: str) -> bool:
    # Werkzeug's Request.is_json: the mimetype without parameters, case-insensitive.
    mimetype = content_type.split(";", 1)[0].strip().lower()
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )
