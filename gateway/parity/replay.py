"""Sending a recorded exchange to both applications in-process, as exported tests do.

The legacy WSGI app is called through Werkzeug's test environ (Flask's own test client) and the
new ASGI app directly, as a server would: its lifespan run once (`RunningApp`: an app that opens
its database at startup answers as it does behind the gateway), then each request on the same
event loop. Nothing beyond the gateway's own dependencies: no server, no network, no httpx.
Both answers are compared by the gateway's own comparer under the rules the route had when the
exchange was recorded.

Exported tests replay only safe methods (GET, HEAD, OPTIONS) unless the module was exported
with writes, and then only once the environment names a database for them (`write_refusal`):
a recorded POST or DELETE must not reach the database the apps would otherwise open.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from string import Template
from typing import Any
from urllib.parse import quote, unquote

from werkzeug.test import EnvironBuilder, run_wsgi_app

from gateway.behaviours.shadow import ALWAYS_IGNORED_HEADERS
from gateway.compare import Answer, Comparator, Difference
from gateway.options.headers import HIDDEN
from gateway.parity.redaction import REDACTED

BASE_URL = "http://testserver"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LIFESPAN_SECONDS = 60.0
# Set by the client from the URL and the body; the recorded ones would disagree.
_CLIENT_HEADERS = frozenset({"host", "content-length", "x-request-id"})
# The recorded path is decoded (ASGI's `path`): a `?`, `#` or `%` in it was sent encoded and must
# be again, or it would start a query or a fragment. What a path segment may hold stays as it is.
_PATH_SAFE = "/:@!$&'()*+,;="


class NotReplayable(Exception):
    """The recorded exchange cannot be sent as it was; the message says why."""


def request_of(exchange: Mapping[str, Any], credentials: Mapping[str, str]) -> dict[str, Any]:
    """The request to send; redacted headers come from `credentials` or are left out."""
    recorded = exchange["request"]
    if recorded.get("body") is None:
        raise NotReplayable(
            "the request body was not kept in the ledger (binary, free text or large)"
        )
    supplied = {name.lower(): value for name, value in credentials.items()}
    # Bytes, as they came: the ledger keeps header values as latin-1 text. A supplied credential
    # fills in only a header the recorded request had (redacted): an exchange recorded without
    # one is replayed without one, as it was sent.
    headers: list[tuple[bytes, bytes]] = []
    for name, value in recorded["headers"]:
        if name in _CLIENT_HEADERS:
            continue
        if value != REDACTED:
            headers.append((name.encode("latin-1"), value.encode("latin-1")))
        elif name in supplied:
            headers.append((name.encode("latin-1"), supplied[name].encode("latin-1")))
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


def write_refusal(method: str, include_writes: bool, database_variable: str | None) -> str | None:
    """Why an exchange must not be replayed here (a reason to skip it), or None."""
    if method.upper() in SAFE_METHODS:
        return None
    if not include_writes:
        return (
            f"a recorded {method} may write: this module replays safe methods only "
            "(export again with --include-writes and --database-variable to replay writes)"
        )
    if not database_variable or not os.environ.get(database_variable):
        return (
            f"a recorded {method} writes: set {database_variable} to a database for these "
            "tests (the apps must read it), never the one they serve"
        )
    return None


class RunningApp:
    """An ASGI app with its lifespan started, called request by request on one event loop."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.state: dict[str, Any] = {}
        self._loop = asyncio.new_event_loop()
        self._inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._lifespan = self._loop.create_task(self._run_lifespan())
        self._supported = self._step({"type": "lifespan.startup"}, "lifespan.startup")

    async def _run_lifespan(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": self.state}
        await self.app(scope, self._inbox.get, self._outbox.put)

    def _step(self, message: dict[str, Any], expected: str) -> bool:
        """Send a lifespan message; whether the app answers it (False: it has no lifespan)."""
        self._inbox.put_nowait(message)
        answer = self._loop.run_until_complete(self._answer())
        if answer is None:
            return False
        if answer["type"] == f"{expected}.failed":
            raise RuntimeError(f"the new app's {expected} failed: {answer.get('message', '')}")
        return True

    async def _answer(self) -> dict[str, Any] | None:
        got = asyncio.ensure_future(self._outbox.get())
        done, _ = await asyncio.wait(
            {got, self._lifespan}, timeout=LIFESPAN_SECONDS, return_when=asyncio.FIRST_COMPLETED
        )
        if got in done:
            return got.result()
        got.cancel()
        await asyncio.gather(got, return_exceptions=True)
        if self._lifespan in done and self._lifespan.exception() is not None:
            return None  # an app without a lifespan raises on its scope: served without one
        raise RuntimeError(f"the new app's lifespan did not answer in {LIFESPAN_SECONDS:.0f} s")

    def answer(self, request: Mapping[str, Any]) -> Answer:
        return self._loop.run_until_complete(self._call(request))

    async def _call(self, request: Mapping[str, Any]) -> Answer:
        path, _, query = str(request["url"]).partition("?")
        content: bytes = request["content"] or b""
        headers = [(b"host", b"testserver"), *request["headers"]]
        if content:
            headers.append((b"content-length", str(len(content)).encode()))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request["method"],
            "scheme": "http",
            "path": unquote(path),
            "raw_path": path.encode("latin-1"),
            "query_string": query.encode("latin-1"),
            "root_path": "",
            "headers": headers,
            "server": ("testserver", 80),
            "client": ("127.0.0.1", 50000),
            "state": dict(self.state),
        }
        finished = asyncio.Event()
        sent = False
        started: dict[str, Any] = {}
        body = bytearray()

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": content, "more_body": False}
            await finished.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                started.update(message)
            elif message["type"] == "http.response.body":
                body.extend(message.get("body", b""))
                if not message.get("more_body", False):
                    finished.set()

        try:
            await self.app(scope, receive, send)
        except Exception as exc:  # compared by type, as the gateway compares them
            return Answer(exception=exc)
        finally:
            finished.set()
        if not started:
            return Answer(exception=RuntimeError("the new app sent no response"))
        pairs = [(bytes(name), bytes(value)) for name, value in started.get("headers", [])]
        return Answer(status=int(started["status"]), headers=pairs, body=body)

    def close(self) -> None:
        try:
            if self._supported and not self._lifespan.done():
                self._step({"type": "lifespan.shutdown"}, "lifespan.shutdown")
        finally:
            if not self._lifespan.done():
                self._lifespan.cancel()
                self._loop.run_until_complete(
                    asyncio.gather(self._lifespan, return_exceptions=True)
                )
            self._loop.close()


def new_answer(app: Any, request: Mapping[str, Any]) -> Answer:
    """The new app's answer: `app` a RunningApp, or a bare ASGI app run for this one call."""
    if isinstance(app, RunningApp):
        return app.answer(request)
    running = RunningApp(app)
    try:
        return running.answer(request)
    finally:
        running.close()


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
