"""Hand-written input checks. Each failure aborts at once, so clients see the first bad field.

Bodies fail with 422 and a message naming the field; query parameters fail with 400.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NoReturn

from flask import abort, request

from legacy_app.db import MAX_ROW_ID

BODY_NOT_OBJECT = "Request body must be a JSON object"
# Only plain ASCII digits: int() would also take "+5", " 5", "5_0" and non-ASCII digits.
_INTEGER = re.compile(r"-?[0-9]+")


def json_object() -> dict[str, object]:
    # silent=True: a missing or non-JSON Content-Type and malformed JSON all end up here as None.
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        abort(400, BODY_NOT_OBJECT)
    return data


def invalid(field: str, problem: str) -> NoReturn:
    abort(422, f"'{field}' {problem}")


def required(data: dict[str, object], field: str) -> object:
    if field not in data:
        invalid(field, "is required")
    return data[field]


def check_string(value: object, field: str, *, max_length: int, min_length: int = 0) -> str:
    if not isinstance(value, str):
        invalid(field, "must be a string")
    if len(value) < min_length:
        invalid(
            field,
            "must not be empty" if min_length == 1 else f"must be at least {min_length} characters",
        )
    if len(value) > max_length:
        invalid(field, f"must be at most {max_length} characters")
    return value


def check_choice(value: object, field: str, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        invalid(field, "must be one of: " + ", ".join(choices))
    return value


def check_optional_int(value: object, field: str) -> int | None:
    if value is None:
        return None
    # bool is an int subclass in Python, but `true` is not an id.
    if not isinstance(value, int) or isinstance(value, bool):
        invalid(field, "must be an integer")
    return value


def int_arg(name: str, *, default: int | None, minimum: int = 1) -> int | None:
    raw = request.args.get(name)
    if not raw:
        return default
    if not _INTEGER.fullmatch(raw):
        abort(400, f"Query parameter '{name}' must be an integer")
    value = int(raw)
    if value < minimum:
        abort(400, f"Query parameter '{name}' must be at least {minimum}")
    if value > MAX_ROW_ID:
        abort(400, f"Query parameter '{name}' must be at most {MAX_ROW_ID}")
    return value


def choice_arg(name: str, choices: Sequence[str]) -> str | None:
    raw = request.args.get(name)
    if not raw:
        return None
    if raw not in choices:
        abort(400, f"Query parameter '{name}' must be one of: " + ", ".join(choices))
    return raw
