"""Sending a recorded exchange to both applications in-process, as exported tests do.

The legacy WSGI app is called through httpx's WSGITransport and the new ASGI app through its
ASGITransport: no server, no network, no gateway in between. Both answers are compared by the
gateway's own comparer under the rules the route had when the exchange was recorded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import httpx

from gateway.behaviours.compare import Answer, Comparator, Difference
from gateway.behaviours.shadow import ALWAYS_IGNORED_HEADERS
from gateway.parity.redaction import REDACTED

BASE_URL = "http://testserver"
# Set by the client from the URL and the body; the recorded ones would disagree.
_CLIENT_HEADERS = frozenset({"host", "content-length", "x-request-id"})


def request_of(exchange: Mapping[str, Any], credentials: Mapping[str, str]) -> dict[str, Any]:
    """httpx request arguments; redacted headers come from `credentials` or are left out."""
    recorded = exchange["request"]
    supplied = {name.lower(): value for name, value in credentials.items()}
    headers: list[tuple[str, str]] = []
    for name, value in recorded["headers"]:
        if name in _CLIENT_HEADERS or name in supplied:
            continue
        if value != REDACTED:
            headers.append((name, value))
    headers.extend(supplied.items())
    url = recorded["path"] + ("?" + recorded["query"] if recorded["query"] else "")
    body = recorded.get("body")
    return {
        "method": recorded["method"],
        "url": url,
        "headers": headers,
        "content": body.encode() if body else None,
    }


def _answer(response: httpx.Response) -> Answer:
    pairs = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.multi_items()]
    return Answer(status=response.status_code, headers=pairs, body=bytearray(response.content))


def legacy_answer(app: Any, request: Mapping[str, Any]) -> Answer:
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url=BASE_URL) as client:
        return _answer(client.request(**request))


def new_answer(app: Any, request: Mapping[str, Any]) -> Answer:
    async def call() -> Answer:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            return _answer(await client.request(**request))

    return asyncio.run(call())


def differences(
    exchange: Mapping[str, Any], legacy: Any, new: Any, credentials: Mapping[str, str]
) -> list[Difference]:
    """What still differs between the two apps' answers to the recorded request."""
    request = request_of(exchange, credentials)
    answers = {"legacy": legacy_answer(legacy, request), "new": new_answer(new, request)}
    primary = exchange["primary"]
    shadow = "new" if primary == "legacy" else "legacy"
    rules = exchange["rules"]
    comparator = Comparator(
        rules["headers"], rules["ignore_headers"], rules["ignore"], ALWAYS_IGNORED_HEADERS
    )
    noise = set(rules["noise"])
    found = comparator.differences(answers[primary], answers[shadow])
    return [difference for difference in found if difference.noise_key not in noise]


def describe(exchange: Mapping[str, Any], found: list[Difference]) -> str:
    primary = exchange["primary"]
    shadow = "new" if primary == "legacy" else "legacy"
    request = exchange["request"]
    lines = [f"{request['method']} {request['path']}: the two apps answer differently"]
    lines += [f"  {d.field} ({d.kind}): {primary} {d.primary} | {shadow} {d.shadow}" for d in found]
    return "\n".join(lines)
