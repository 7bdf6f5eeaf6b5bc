"""The requests sent to gunicorn and to the gateway, and the differences the gateway means to have.

Each `Case` is one request, sent byte for byte the same to both servers. A case with a
`Difference` documents an answer the gateway gives on purpose; the test checks that exactly that
difference holds, so a change on either side shows up.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from tests.conformance.edge_app import pattern
from tests.conformance.raw_http import Reply

Header = tuple[bytes, bytes]
TEN_MB = 10 * 1024 * 1024


@dataclass(frozen=True)
class Difference:
    why: str
    holds: Callable[[Reply, Reply], bool]  # given (gunicorn's reply, the gateway's reply)


@dataclass(frozen=True)
class Case:
    id: str
    target: bytes
    method: bytes = b"GET"
    headers: tuple[Header, ...] = ()
    body: bytes = b""
    chunks: tuple[bytes, ...] | None = None
    difference: Difference | None = None


def multipart(fields: list[tuple[str, str | tuple[str, str, bytes]]]) -> tuple[Header, bytes]:
    """A multipart/form-data body: (name, value) fields, or (name, (filename, type, data))."""
    boundary = b"conformance-boundary-7MA4YWxkTrZu0gW"
    parts = []
    for name, value in fields:
        if isinstance(value, str):
            disposition = f'form-data; name="{name}"'.encode()
            parts.append(b"Content-Disposition: " + disposition + b"\r\n\r\n" + value.encode())
        else:
            filename, content_type, data = value
            disposition = f'form-data; name="{name}"; filename="{filename}"'.encode()
            parts.append(
                b"Content-Disposition: "
                + disposition
                + b"\r\nContent-Type: "
                + content_type.encode()
                + b"\r\n\r\n"
                + data
            )
    body = b"".join(b"--" + boundary + b"\r\n" + part + b"\r\n" for part in parts)
    body += b"--" + boundary + b"--\r\n"
    return (b"Content-Type", b"multipart/form-data; boundary=" + boundary), body


def _gateway_json_error(status: int, error: str) -> Callable[[Reply, Reply], bool]:
    def holds(gunicorn: Reply, gateway: Reply) -> bool:
        return gateway.status == status and json.loads(gateway.body).get("error") == error

    return holds


FORM_URLENCODED = (b"Content-Type", b"application/x-www-form-urlencoded")
JSON = (b"Content-Type", b"application/json")
MULTIPART_SMALL = multipart(
    [
        ("title", "a title"),
        ("tags", "one"),
        ("tags", "two"),
        ("doc", ("report.bin", "application/octet-stream", pattern(5000))),
        ("note", ("note.txt", "text/plain", b"line 1\r\nline 2\r\n")),
    ]
)
MULTIPART_UNICODE = multipart(
    [
        ("titre", "café ☃"),
        ("fichier", ("résumé.txt", "text/plain; charset=utf-8", "naïve\n".encode())),
    ]
)
MULTIPART_LARGE = multipart([("big", ("big.bin", "application/octet-stream", pattern(2_500_000)))])
FAR_FUTURE = b"Fri, 01 Jan 2100 00:00:00 GMT"

CASES: list[Case] = [
    # --- what the app sees of a request ---
    Case("echo", b"/echo"),
    Case("echo-repeated-query-keys", b"/echo?a=1&a=2&b=&c&a=3"),
    Case("echo-encoded-query", b"/echo?q=%E2%82%AC+x&sp=a%20b&plus=1%2B1&amp=%26"),
    Case("echo-path-rest", b"/echo/a/b/c.txt"),
    Case("echo-post-json", b"/echo", b"POST", (JSON,), b'{"a": [1, 2, "\xc3\xa9"]}'),
    Case("echo-put", b"/echo", b"PUT", (JSON,), b'{"put": true}'),
    Case("echo-patch", b"/echo", b"PATCH", (JSON,), b'{"patch": 1}'),
    Case("echo-delete", b"/echo", b"DELETE"),
    Case("echo-form-urlencoded", b"/echo", b"POST", (FORM_URLENCODED,), b"a=1&a=2&b=%C3%A9"),
    Case("echo-repeated-header", b"/echo", headers=((b"X-Multi", b"1"), (b"X-Multi", b"2, 3"))),
    Case("echo-latin-1-header", b"/echo", headers=((b"X-Latin", "café".encode("latin-1")),)),
    Case("echo-utf-8-header", b"/echo", headers=((b"X-Utf8", "naïve ☃".encode()),)),
    Case("echo-underscore-header", b"/echo", headers=((b"X_Under", b"dropped"),)),
    Case("echo-cookies", b"/echo", headers=((b"Cookie", b'a=1; b=two; c="quoted"'),)),
    Case("echo-empty-header", b"/echo", headers=((b"X-Empty", b""),)),
    Case("environ", b"/environ?x=1"),
    Case("environ-post", b"/environ", b"POST", (JSON,), b"{}"),
    Case("environ-forwarded-proto", b"/environ", headers=((b"X-Forwarded-Proto", b"https"),)),
    Case("environ-encoded-path", b"/environ?p=%2F", headers=((b"Accept", b"*/*"),)),
    # --- unicode and percent-encoded paths ---
    Case("unicode-path", b"/unicode/caf%C3%A9"),
    Case("unicode-path-lowercase-hex", b"/unicode/caf%c3%a9"),
    Case("unicode-path-astral", b"/unicode/%F0%9F%98%80%F0%9D%84%9E"),
    Case("encoded-space", b"/unicode/a%20b"),
    Case("encoded-reserved", b"/unicode/a%3Fb%23c%26d"),
    Case("encoded-percent", b"/unicode/100%25"),
    Case("literal-plus", b"/unicode/a+b"),
    Case("encoded-tilde", b"/echo/%7Euser"),
    Case("unicode-json-body", b"/json/unicode"),
    # --- streaming ---
    Case("stream", b"/stream"),
    Case("stream-long", b"/stream?n=500&label=long"),
    Case("stream-empty-chunks", b"/stream/empty-chunks"),
    Case("stream-binary-3mb", b"/stream/binary"),
    Case("stream-head", b"/stream", b"HEAD"),
    # --- binary bodies, around the gateway's 1 MiB buffering limit ---
    Case("binary-empty", b"/binary?size=0"),
    Case("binary-1k", b"/binary?size=1024"),
    Case("binary-1mib", b"/binary?size=1048576"),
    Case("binary-1mib-plus-1", b"/binary?size=1048577"),
    Case("binary-5mb", b"/binary?size=5000000"),
    Case("binary-head", b"/binary?size=5000", b"HEAD"),
    # --- cookies ---
    Case("set-cookie-several", b"/cookies/set"),
    # --- redirects and url_for (under the root path, when there is one) ---
    Case("redirect-url-for", b"/redirect"),
    Case("redirect-external", b"/redirect/external"),
    Case("redirect-absolute", b"/redirect/absolute"),
    Case("redirect-missing-slash", b"/dir"),
    Case("redirect-missing-slash-query", b"/dir?keep=1"),
    Case("directory", b"/dir/"),
    Case("url-for", b"/urls"),
    Case("url-for-https", b"/urls", headers=((b"X-Forwarded-Proto", b"https"),)),
    # --- HEAD ---
    Case("head-echo", b"/echo", b"HEAD"),
    Case("head-json", b"/json/unicode", b"HEAD"),
    Case("head-file", b"/file/large.bin", b"HEAD"),
    Case("head-404", b"/nowhere", b"HEAD"),
    # --- uploads ---
    Case("upload-10mb", b"/upload", b"POST", body=pattern(TEN_MB)),
    Case("upload-chunked", b"/upload", b"POST", chunks=(b"first ", b"second ", b"third")),
    Case("upload-chunked-1mb", b"/upload", b"POST", chunks=tuple([pattern(65536)] * 16)),
    Case("upload-empty", b"/upload", b"POST"),
    Case(
        "upload-expect-continue",
        b"/upload",
        b"POST",
        ((b"Expect", b"100-continue"),),
        pattern(300_000),
    ),
    Case("multipart", b"/form", b"POST", (MULTIPART_SMALL[0],), MULTIPART_SMALL[1]),
    Case("multipart-unicode", b"/form", b"POST", (MULTIPART_UNICODE[0],), MULTIPART_UNICODE[1]),
    Case("multipart-large", b"/form", b"POST", (MULTIPART_LARGE[0],), MULTIPART_LARGE[1]),
    Case(
        "multipart-chunked",
        b"/form",
        b"POST",
        (MULTIPART_SMALL[0],),
        chunks=(MULTIPART_SMALL[1][:1000], MULTIPART_SMALL[1][1000:]),
    ),
    # --- send_file, ranges, conditional requests ---
    Case("file-small", b"/file/small.bin"),
    Case("file-large", b"/file/large.bin"),
    Case("file-text", b"/file/text.txt"),
    Case("file-range-start", b"/file/small.bin", headers=((b"Range", b"bytes=0-99"),)),
    Case("file-range-open", b"/file/large.bin", headers=((b"Range", b"bytes=100-"),)),
    Case("file-range-suffix", b"/file/large.bin", headers=((b"Range", b"bytes=-500"),)),
    Case("file-range-middle", b"/file/large.bin", headers=((b"Range", b"bytes=1000000-2000000"),)),
    Case("file-range-unsatisfiable", b"/file/small.bin", headers=((b"Range", b"bytes=99999-"),)),
    Case("file-range-several", b"/file/small.bin", headers=((b"Range", b"bytes=0-1,5-9"),)),
    Case("file-not-modified", b"/file/small.bin", headers=((b"If-Modified-Since", FAR_FUTURE),)),
    Case("file-attachment-unicode-name", b"/file/attachment"),
    Case("file-missing", b"/file/missing.bin"),
    # --- empty bodies ---
    Case("empty-204", b"/empty/204"),
    Case("empty-200", b"/empty/200"),
    Case("empty-304", b"/empty/304"),
    Case("empty-octet-stream", b"/empty/none-type"),
    # --- response headers ---
    Case("non-ascii-response-headers", b"/headers/non-ascii"),
    Case("repeated-response-headers", b"/headers/many"),
    # --- statuses and error pages ---
    Case("status-201", b"/status/201"),
    Case("status-418", b"/status/418"),
    Case("status-599", b"/status/599"),
    Case("abort-400", b"/abort/400"),
    Case("abort-403", b"/abort/403"),
    Case("abort-404", b"/abort/404"),
    Case("abort-503", b"/abort/503"),
    Case("unhandled-error-500", b"/error"),
    Case("not-found", b"/no/such/page"),
    Case("method-not-allowed", b"/binary", b"POST", body=b"x"),
    Case("options", b"/echo", b"OPTIONS"),
    # --- plain WSGI apps below Flask ---
    Case("wsgi-write-callable", b"/raw/write"),
    Case("wsgi-hop-by-hop-dropped", b"/raw/hop-by-hop"),
    Case("wsgi-body-beyond-content-length", b"/raw/too-long"),
    Case("wsgi-start-response-in-generator", b"/raw/lazy-start"),
    # --- differences on purpose ---
    Case(
        "two-cookie-headers",
        b"/echo",
        headers=((b"Cookie", b"a=1"), (b"Cookie", b"b=2")),
        difference=Difference(
            "gunicorn 27 joins repeated headers with ',' even Cookie, so Flask reads one cookie "
            "'a' = '1,b=2'; the gateway joins Cookie headers with '; ' (what HTTP/2 requires and "
            "cookie parsers expect), so Flask reads both cookies",
            lambda gunicorn, gateway: (
                json.loads(gunicorn.body)["cookies"] == {"a": ["1,b=2"]}
                and json.loads(gateway.body)["cookies"] == {"a": ["1"], "b": ["2"]}
            ),
        ),
    ),
    Case(
        "custom-reason-phrase",
        b"/raw/reason",
        difference=Difference(
            "ASGI carries no reason phrase: uvicorn writes its own for the status code, so the "
            "app's 'Custom Reason' is lost (clients must not rely on reason phrases, RFC 9110)",
            lambda gunicorn, gateway: (
                gunicorn.reason == b"Custom Reason"
                and gateway.reason != b"Custom Reason"
                and (gunicorn.status, gunicorn.body) == (gateway.status, gateway.body)
            ),
        ),
    ),
    Case(
        "invalid-response-header",
        b"/raw/bad-header",
        difference=Difference(
            "both refuse a header value with CR LF and answer 500 before sending anything; the "
            "page is each server's own (gunicorn's HTML, the gateway's JSON error)",
            lambda gunicorn, gateway: (
                gunicorn.status == 500
                and _gateway_json_error(500, "internal_error")(gunicorn, gateway)
            ),
        ),
    ),
    Case(
        "double-slash-inside-path",
        b"/echo/a//b",
        difference=Difference(
            "the gateway merges runs of '/' before routing and hands the app the merged path "
            "(gateway/paths.py), so the app sees /echo/a/b; under gunicorn a <path:> variable "
            "keeps the '//'",
            lambda gunicorn, gateway: (
                json.loads(gunicorn.body)["rest"] == "a//b"
                and json.loads(gateway.body)["rest"] == "a/b"
            ),
        ),
    ),
    Case(
        "dot-segment",
        b"/echo/a/../b",
        difference=Difference(
            "the gateway refuses dot segments with 400 (gateway/paths.py): the route table and "
            "the app could otherwise see different paths",
            _gateway_json_error(400, "bad_path"),
        ),
    ),
    Case(
        "encoded-slash",
        b"/unicode/a%2Fb",
        difference=Difference(
            "the gateway refuses an encoded '/' with 400 (gateway/paths.py); Werkzeug decodes it "
            "and finds no route",
            lambda gunicorn, gateway: (
                gunicorn.status == 404 and _gateway_json_error(400, "bad_path")(gunicorn, gateway)
            ),
        ),
    ),
]


ADMIN = (b"X-Token", b"admin-token")
CUSTOMER = (b"X-Token", b"customer-token")

# legacy_app, each server on its own copy of one seeded database. Only requests that write
# nothing (or are refused before writing): a written row carries the time it was written.
LEGACY_CASES: list[Case] = [
    Case("health", b"/health"),
    Case("health-head", b"/health", b"HEAD"),
    Case("me", b"/api/me", headers=(ADMIN,)),
    Case("me-customer", b"/api/me", headers=(CUSTOMER,)),
    Case("me-no-token", b"/api/me"),
    Case("me-bad-token", b"/api/me", headers=((b"X-Token", b"nope"),)),
    Case("users", b"/api/users", headers=(ADMIN,)),
    Case("user", b"/api/users/1", headers=(ADMIN,)),
    Case("user-missing", b"/api/users/999999", headers=(ADMIN,)),
    Case("tickets", b"/api/tickets", headers=(ADMIN,)),
    Case("tickets-page", b"/api/tickets?page=2&per_page=5", headers=(ADMIN,)),
    Case("tickets-filtered", b"/api/tickets?status=open&status=closed", headers=(ADMIN,)),
    Case("tickets-bad-filter", b"/api/tickets?per_page=abc", headers=(ADMIN,)),
    Case("tickets-customer", b"/api/tickets", headers=(CUSTOMER,)),
    Case("ticket", b"/api/tickets/1", headers=(ADMIN,)),
    Case("ticket-missing", b"/api/tickets/999999", headers=(ADMIN,)),
    Case("ticket-comments", b"/api/tickets/1/comments", headers=(ADMIN,)),
    Case("tickets-export-csv", b"/api/tickets/export.csv", headers=(ADMIN,)),
    Case("events-limited", b"/api/stream/events?limit=2", headers=(ADMIN,)),
    Case("ticket-create-invalid", b"/api/tickets", b"POST", (ADMIN, JSON), b'{"title": ""}'),
    Case("ticket-create-not-json", b"/api/tickets", b"POST", (ADMIN, JSON), b"{not json"),
    Case("ticket-patch-missing", b"/api/tickets/999999", b"PATCH", (ADMIN, JSON), b"{}"),
    Case(
        "login-wrong-password", b"/login", b"POST", (JSON,), b'{"email": "a@b.c", "password": "x"}'
    ),
    Case("method-not-allowed", b"/api/me", b"DELETE", (ADMIN,)),
    Case("not-found", b"/api/nothing-here", headers=(ADMIN,)),
]
