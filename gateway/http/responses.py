"""The answers the gateway gives itself (errors, refusals, the admin API): small JSON bodies."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from starlette.types import Send


class Refused(Exception):
    """An answer the gateway gives itself instead of a side's, raised before any response starts.

    Raised by the parts that serve a side (the WSGI bridge's overload, timeouts, body limits)
    rather than sent by them, so that the dispatcher, the one place that knows the request,
    answers it in the deployment's error shape, counts it under the side that could not answer
    (`side`, e.g. `side="legacy", status="503"`; the request's side when none is named), and
    never compares it with a shadow copy: that side never answered it.
    """

    def __init__(
        self,
        status: int,
        error: str,
        detail: str,
        headers: Iterable[tuple[bytes, bytes]] = (),
        side: str | None = None,
    ) -> None:
        super().__init__(f"{status} {error}: {detail}")
        self.status = status
        self.error = error  # a short code clients can test, e.g. "overloaded", "timeout"
        self.detail = detail  # a sentence for people
        self.headers = list(headers)  # e.g. Retry-After
        self.side = side  # the side that could not answer, when there is one


async def send_json(
    send: Send, status: int, body: dict[str, Any], headers: Iterable[tuple[bytes, bytes]] = ()
) -> int:
    """Send a whole JSON response with `headers` added; returns the status sent."""
    content = json.dumps(body, ensure_ascii=False).encode("utf-8")
    response_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(content)).encode("ascii")),
        *headers,
    ]
    await send({"type": "http.response.start", "status": status, "headers": response_headers})
    await send({"type": "http.response.body", "body": content})
    return status
