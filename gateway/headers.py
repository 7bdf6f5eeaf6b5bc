"""Request and response headers the gateway reads or adds."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable

REQUEST_ID = b"x-request-id"
SIDE = b"x-gateway-side"

# An incoming request id is kept when it is printable ASCII of a sane length (UUIDs, trace
# ids, load balancer ids); anything else is replaced, so it cannot break log lines or headers.
_VALID_REQUEST_ID = re.compile(rb"[\x21-\x7e]{1,200}")

Headers = list[tuple[bytes, bytes]]


def incoming_request_id(headers: Iterable[tuple[bytes, bytes]]) -> bytes | None:
    for name, value in headers:
        if name.lower() == REQUEST_ID:
            return value if _VALID_REQUEST_ID.fullmatch(value) else None
    return None


def new_request_id() -> bytes:
    return uuid.uuid4().hex.encode("ascii")


def with_header(headers: Iterable[tuple[bytes, bytes]], name: bytes, value: bytes) -> Headers:
    """`headers` with every `name` header replaced by one holding `value` (name in lowercase)."""
    kept = [(key, val) for key, val in headers if key.lower() != name]
    kept.append((name, value))
    return kept
