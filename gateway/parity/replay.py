"""Sending a recorded exchange to both applications in-process, as exported tests do.

The legacy WSGI app is called through Werkzeug's test environ (Flask's own test client; httpx's
WSGITransport refuses a header value that is not ASCII, which PEP 3333 reads as latin-1) and the
new ASGI app through httpx's ASGITransport: no server, no network, no gateway in between. Both
answers are compared by the gateway's own comparer under the rules the route had when the
exchange was recorded.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from string import Template
from typing import Any
from urllib.parse import quote

import httpx
from werkzeug.test import EnvironBuilder, run_wsgi_app

from gateway.behaviours.shadow import ALWAYS_IGNORED_HEADERS
from gateway.compare import Answer, Comparator, Difference
from gateway.options.headers import HIDDEN
from gateway.parity.redaction import REDACTED

BASE_URL = "http://testserver"
# Set by the client from the URL and the body; the recorded ones would disagree.
_CLIENT_HEADERS = frozenset({"host", "content-length", "x-request-id"})
# The recorded path is decoded (ASGI's `path`): a `?`, `#` or `%` in it was sent encoded and must
# be again, or it would start a query or a fragment. What a path segment may hold stays as it is.
_PATH_SAFE = "/:@!$&'()*+,;="


class NotReplayable(Exception):
    """The recorded exchange cannot be sent as it was; the message says why."""


def request_of(exchange: Mapping[str, Any], credentials: Mapping[str, str]) -> dict[str, Any]:
    """httpx request arguments; redacted headers come from `credentials` or are left out."""
    recorded = exchange["request"]
    if recorded.get("body") is None:
        raise NotReplayable(
            "the request body was not kept in the ledger (binary, free text or large)"
        )
    supplied = {name.lower(): value for name, value in credentials.items()}
    # Bytes, as they came: the ledger keeps header values as latin-1 text, and httpx would
    # refuse a str that is not ASCII (a UTF-8 name in a header, say).
    headers: list[tuple[bytes, bytes]] = []
    for name, value in recorded["headers"]:
        if name in _CLIENT_HEADERS or name in supplied:
            continue
        if value != REDACTED:
            headers.append((name.encode("latin-1"), value.encode("latin-1")))
    headers.extend((name.encode(), value.encode("latin-1")) for name, value in supplied.items())
    path = quote(recorded["path"], safe=_PATH_SAFE)
    url = path + ("?" + recorded["query"] if recorded["query"] else "")
    body = recorded.get("body")
    return {
        "method": recorded["method"],
        "url": url,
        "headers": headers,
        # Kept as latin-1 text (a form as it came) or ASCII JSON: latin-1 gives the bytes back.
        "content": body.encode("latin-1") if body else None,
    }


def copied(request: Mapping[str, Any], rules: Mapping[str, Any] | None) -> dict[str, Any]:
    """The request as the other side got it: the route's header rules for the copy applied
    (gateway.options.headers), values read from the environment as the gateway did."""
    if not rules:
        return dict(request)
    setting: dict[str, str] = rules.get("set") or {}
    removed = {name.lower() for name in rules.get("drop") or ()} | set(setting)
    headers = [(n, v) for n, v in request["headers"] if n.decode("latin-1").lower() not in removed]
    for name, text in setting.items():
        if text == HIDDEN:
            raise NotReplayable(
                f"the routes file sets {name} on the copy as a literal value, which the ledger "
                "does not keep: name an environment variable (${VARIABLE}) to replay it"
            )
        try:
            value = Template(text).substitute(os.environ)
        except KeyError as exc:
            raise LookupError(
                f"environment variable {exc.args[0]} is not set (the copy's {name} header "
                "takes it, as in the gateway)"
            ) from None
        headers.append((name.encode("latin-1"), value.encode("latin-1")))
    return {**request, "headers": headers}


def _answer(response: httpx.Response) -> Answer:
    # The raw bytes: httpx decodes a value as UTF-8 when it can, which latin-1 cannot encode back.
    pairs = list(response.headers.raw)
    return Answer(status=response.status_code, headers=pairs, body=bytearray(response.content))


def legacy_answer(app: Any, request: Mapping[str, Any]) -> Answer:
    try:
        return _legacy_answer(app, request)
    except Exception as exc:  # as the gateway's shadow copy: an exception is an answer
        return Answer(exception=exc)


def _legacy_answer(app: Any, request: Mapping[str, Any]) -> Answer:
    path, _, query = str(request["url"]).partition("?")
    builder = EnvironBuilder(
        path=path,
        base_url=BASE_URL,
        query_string=query,
        method=request["method"],
        headers=[
            (name.decode("latin-1"), value.decode("latin-1")) for name, value in request["headers"]
        ],
        data=request["content"] or b"",
    )
    try:
        environ = builder.get_environ()
    finally:
        builder.close()
    # buffered: the app's iterable is read in full and closed there.
    body, status, headers = run_wsgi_app(app, environ, buffered=True)
    content = b"".join(body)
    pairs = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]
    return Answer(status=int(status.split()[0]), headers=pairs, body=bytearray(content))


def new_answer(app: Any, request: Mapping[str, Any]) -> Answer:
    async def call() -> Answer:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            try:
                return _answer(await client.request(**request))
            except Exception as exc:  # compared by type, as the gateway compares them
                return Answer(exception=exc)

    return asyncio.run(call())


def differences(
    exchange: Mapping[str, Any], legacy: Any, new: Any, credentials: Mapping[str, str]
) -> list[Difference]:
    """What still differs between the two apps' answers to the recorded request."""
    request = request_of(exchange, credentials)
    primary = exchange["primary"]
    shadow = "new" if primary == "legacy" else "legacy"
    rules = exchange["rules"]
    sent = {primary: request, shadow: copied(request, rules.get("request_headers"))}
    answers = {
        "legacy": legacy_answer(legacy, sent["legacy"]),
        "new": new_answer(new, sent["new"]),
    }
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
