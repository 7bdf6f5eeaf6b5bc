"""Checking and encoding what a WSGI app passes to `start_response`, as gunicorn does.

An invalid status or header raises inside `start_response`, so the app's own error handling (or
the gateway's 500) takes over before anything is sent. Left unchecked, uvicorn would find the
problem while writing the head, after the response counts as started, and could only drop the
connection.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The same patterns as gunicorn's (RFC 9110 tokens and field values, obs-text allowed).
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FIELD_VALUE = re.compile(r"[ \t\x21-\x7e\x80-\xff]*")
_STATUS = re.compile(r"[0-9]{3}(?: [ \t\x21-\x7e\x80-\xff]*)?")

# Hop-by-hop headers describe one connection; PEP 3333 forbids apps to set them and gunicorn
# drops them. The server frames the response itself.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)


class InvalidResponse(ValueError):
    """The app's status or headers cannot be sent; the message names the culprit."""


@dataclass(frozen=True, slots=True)
class ResponseHead:
    status: int
    headers: list[tuple[bytes, bytes]]
    length: int | None  # the Content-Length the app declared
    has_body: bool  # False for HEAD, 1xx, 204 and 304: whatever the app yields is dropped


def parse_head(status: str, headers: list[tuple[str, str]], method: str) -> ResponseHead:
    if not isinstance(status, str) or not _STATUS.fullmatch(status):
        raise InvalidResponse(f"invalid WSGI status {status!r}")
    code = int(status[:3])
    no_content = code < 200 or code == 204
    encoded: list[tuple[bytes, bytes]] = []
    length: int | None = None
    for name, value in headers:
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise InvalidResponse(f"invalid response header name {name!r}")
        if not isinstance(value, str) or not _FIELD_VALUE.fullmatch(value):
            # The name only: the value may hold a secret (a session cookie, a token).
            raise InvalidResponse(f"invalid value for response header {name!r}")
        lowered = name.lower()
        if lowered in HOP_BY_HOP:
            continue
        value = value.strip(" \t")
        if lowered == "content-length":
            if no_content:  # RFC 9110 6.4.2: never on 1xx and 204
                continue
            length = _content_length(value)
        encoded.append((lowered.encode("latin-1"), value.encode("latin-1")))
    has_body = method != "HEAD" and not no_content and code != 304
    return ResponseHead(code, encoded, length, has_body)


def _content_length(value: str) -> int:
    if not value.isdigit() or not value.isascii():
        raise InvalidResponse(f"invalid Content-Length {value!r}")
    return int(value)
