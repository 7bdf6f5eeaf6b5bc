"""The JSON shape of the answers the gateway gives itself, replaceable by the apps' own.

The gateway answers some requests itself: 400 for a path it refuses, 503 when the legacy side
is at capacity, 504 when a side did not answer in time, 408 and 413 for request bodies, 500
when a side failed before answering. Clients parse those the way the API taught them to parse
its errors (`error.code`, `detail`, ...), so a deployment can give them its apps' own shape.

The default shape is `{"error": "<code>", "detail": "<sentence>", "side": "<side>" | null}`.
`GATEWAY_ERROR_TEMPLATE` replaces it with any JSON object whose string values may hold the
placeholders `{status}`, `{error}`, `{detail}`, `{side}` and `{request_id}`; a value that is
exactly one placeholder takes the value's own JSON type (`"{status}"` becomes `504`, `"{side}"`
becomes `null` when no side is concerned). For example, FastAPI's shape:
`{"detail": "{detail}"}`; a nested one: `{"error": {"code": "{error}", "message": "{detail}"}}`.
"""

from __future__ import annotations

import json
import re
from typing import Any

PLACEHOLDERS = ("status", "error", "detail", "side", "request_id")
DEFAULT_TEMPLATE = '{"error": "{error}", "detail": "{detail}", "side": "{side}"}'
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


class ErrorShape:
    def __init__(self, template: str = DEFAULT_TEMPLATE) -> None:
        try:
            self.template = json.loads(template)
        except ValueError as exc:
            raise ValueError(f"the error template is not JSON: {exc}") from exc
        if not isinstance(self.template, dict):
            raise ValueError("the error template must be a JSON object")
        unknown = _placeholders(self.template) - set(PLACEHOLDERS)
        if unknown:
            known = ", ".join("{" + name + "}" for name in PLACEHOLDERS)
            raise ValueError(
                f"the error template uses unknown placeholders {sorted(unknown)} (known: {known})"
            )

    def render(
        self, status: int, error: str, detail: str, side: str | None, request_id: str
    ) -> dict[str, Any]:
        values: dict[str, Any] = {
            "status": status,
            "error": error,
            "detail": detail,
            "side": side,
            "request_id": request_id,
        }
        rendered = _fill(self.template, values)
        assert isinstance(rendered, dict)  # the template is an object, checked above
        return rendered


def _placeholders(value: Any) -> set[str]:
    if isinstance(value, str):
        return set(_PLACEHOLDER.findall(value))
    if isinstance(value, dict):
        return set().union(*map(_placeholders, value.values()), *map(_placeholders, value))
    if isinstance(value, list):
        return set().union(*map(_placeholders, value))
    return set()


def _fill(value: Any, values: dict[str, Any]) -> Any:
    if isinstance(value, str):
        whole = _PLACEHOLDER.fullmatch(value)
        if whole is not None:
            return values[whole[1]]
        return _PLACEHOLDER.sub(lambda match: _text(values[match[1]]), value)
    if isinstance(value, dict):
        return {_fill(key, values): _fill(item, values) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, values) for item in value]
    return value


def _text(value: Any) -> str:
    return "" if value is None else str(value)
