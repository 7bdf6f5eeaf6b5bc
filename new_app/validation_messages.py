"""Pydantic's validation errors, worded the way the legacy app's hand-written checks were.

Only the first error is reported, as the legacy app stopped at the first bad field; Pydantic
lists errors in field order, and our models declare fields in the order the legacy app checked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

BODY_NOT_OBJECT = "Request body must be a JSON object"
_QUOTED = re.compile(r"'([^']*)'")


def describe_validation_error(errors: Sequence[Any]) -> tuple[int, str]:
    """Status and message for the first error: 422 for body fields, 400 for the rest."""
    if not errors:
        return 400, BODY_NOT_OBJECT
    error: Mapping[str, Any] = errors[0]
    location = tuple(error.get("loc", ()))
    source = location[0] if location else "body"
    field = location[1] if len(location) > 1 else None
    if source == "body":
        if field is None or error.get("type") == "json_invalid":
            return 400, BODY_NOT_OBJECT
        return 422, f"'{field}' {_problem(error)}"
    if source == "query":
        return 400, f"Query parameter '{field}' {_problem(error)}"
    return 400, f"'{field}' {_problem(error)}"


def _problem(error: Mapping[str, Any]) -> str:
    kind = error.get("type")
    context: Mapping[str, Any] = error.get("ctx") or {}
    if kind == "missing":
        return "is required"
    if kind == "string_type":
        return "must be a string"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return "must be an integer"
    if kind == "string_too_short":
        minimum = context.get("min_length", 1)
        return "must not be empty" if minimum == 1 else f"must be at least {minimum} characters"
    if kind == "string_too_long":
        return f"must be at most {context.get('max_length')} characters"
    if kind == "literal_error":
        # Pydantic words it "'low', 'normal' or 'high'"; the legacy app listed them plainly.
        choices = _QUOTED.findall(str(context.get("expected", "")))
        return "must be one of: " + ", ".join(choices)
    if kind == "greater_than_equal":
        return f"must be at least {context.get('ge')}"
    if kind == "less_than_equal":
        return f"must be at most {context.get('le')}"
    return "is invalid"
