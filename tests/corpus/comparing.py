"""Answers of the app alone and through the gateway, compared modulo what changes per process.

What is compared is what a client sees: the status, the content type and the body. Volatile
parts (a CSRF token, a random id, the server's address) are scrubbed by each app's own rules
first; headers the gateway adds by design (X-Gateway-Side, X-Request-Id) are not compared.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx

Scrub = Callable[[str], str]


@dataclass(frozen=True, slots=True)
class Call:
    method: str
    path: str
    data: dict[str, str] | None = None
    headers: dict[str, str] | None = None

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    content_type: str
    body: str


def answer(client: httpx.Client, call: Call, scrub: Scrub) -> Answer:
    response = client.request(
        call.method, call.path, data=call.data, headers=call.headers, follow_redirects=False
    )
    content_type = response.headers.get("content-type", "")
    return Answer(response.status_code, content_type, scrub(_body(response, content_type)))


def _body(response: httpx.Response, content_type: str) -> str:
    if content_type.startswith("application/json"):
        try:
            # Key order is the serializer's business, not the app's answer.
            return json.dumps(response.json(), sort_keys=True)
        except json.JSONDecodeError:  # a stream of JSON lines, say
            return response.text
    return response.text if _is_text(content_type) else response.content.hex()


def differences(
    alone: httpx.Client, gateway: httpx.Client, calls: Sequence[Call], scrub: Scrub
) -> list[str]:
    """One line per call whose answers differ (empty: every answer the same)."""
    found = []
    for call in calls:
        expected, got = answer(alone, call, scrub), answer(gateway, call, scrub)
        if expected != got:
            found.append(f"{call}: {_difference(expected, got)}")
    return found


def _difference(alone: Answer, gateway: Answer) -> str:
    if (alone.status, alone.content_type) != (gateway.status, gateway.content_type):
        return f"alone {_short(alone)}; through the gateway {_short(gateway)}"
    at = next(
        (i for i, (a, b) in enumerate(zip(alone.body, gateway.body, strict=False)) if a != b),
        min(len(alone.body), len(gateway.body)),
    )
    start = max(0, at - 60)
    return (
        f"bodies differ at {at}: alone ...{alone.body[start : at + 80]!r}; "
        f"through the gateway ...{gateway.body[start : at + 80]!r}"
    )


def scrubber(*patterns: tuple[str, str]) -> Scrub:
    compiled = [(re.compile(pattern), replacement) for pattern, replacement in patterns]

    def scrub(body: str) -> str:
        for pattern, replacement in compiled:
            body = pattern.sub(replacement, body)
        return body

    return scrub


def _is_text(content_type: str) -> bool:
    return content_type.startswith("text/") or "xml" in content_type or "javascript" in content_type


def _short(found: Answer) -> str:
    return f"{found.status} {found.content_type} {found.body[:200]!r}"
