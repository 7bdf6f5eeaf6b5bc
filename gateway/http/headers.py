"""Request and response headers the gateway reads or adds."""

from __future__ import annotations

import os
import random
import re
from collections.abc import Iterable
from collections.abc import Set as AbstractSet

REQUEST_ID = b"x-request-id"
SIDE = b"x-gateway-side"

# An incoming request id is kept when it is printable ASCII of a sane length (UUIDs, trace
# ids, load balancer ids); anything else is replaced, so it cannot break log lines or headers.
_VALID_REQUEST_ID = re.compile(rb"[\x21-\x7e]{1,200}")

Headers = list[tuple[bytes, bytes]]


def get(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    """The first value of the header `name` (given in lowercase), or None."""
    for key, value in headers:
        if key.lower() == name:  # ASGI servers lowercase names; an app's own scope may not
            return bytes(value)
    return None


def incoming_request_id(headers: Iterable[tuple[bytes, bytes]]) -> bytes | None:
    value = get(headers, REQUEST_ID)
    return value if value is not None and _VALID_REQUEST_ID.fullmatch(value) else None


# Request ids need to be unique, not secret: a Mersenne Twister seeded from the OS makes 128
# random bits without the system call uuid4() makes per request.
_random = random.Random(os.urandom(32))
# A forked worker must not repeat its parent's sequence.
os.register_at_fork(after_in_child=lambda: _random.seed(os.urandom(32)))


def new_request_id() -> bytes:
    return b"%032x" % _random.getrandbits(128)


def with_headers(
    headers: Iterable[tuple[bytes, bytes]], replacements: Headers, drop: Iterable[bytes] = ()
) -> Headers:
    """`headers` with every header named in `replacements` (lowercase names) replaced, and
    those named in `drop` (lowercase) left out."""
    names = {name for name, _ in replacements}
    names.update(drop)
    return replaced(headers, replacements, names)


def replaced(
    headers: Iterable[tuple[bytes, bytes]], replacements: Headers, names: AbstractSet[bytes]
) -> Headers:
    """`with_headers` with the names to leave out given (lowercase), built once by a caller
    that adds the same headers to every request or answer."""
    # The kept pairs themselves, not copies: this runs twice on every request.
    kept = [header for header in headers if header[0].lower() not in names]
    kept += replacements
    return kept
