from __future__ import annotations

import json
import time

import pytest

from gateway.compare import Difference
from gateway.parity import redaction
from gateway.parity.redaction import REDACTED, Redactor


def test_credential_headers_and_secret_looking_ones_are_redacted() -> None:
    redactor = Redactor(["X-Tenant-Key ", "x-internal"])
    kept = redactor.request_headers(
        [
            (b"Authorization", b"Bearer s3cret"),
            (b"cookie", b"session=abc"),
            (b"x-internal", b"hidden"),
            (b"x-session-id", b"abc"),
            (b"accept", b"application/json"),
            (b"content-length", b"0"),
            (b"x-gateway-shadow", b"1"),
        ]
    )
    assert kept == [
        ["authorization", REDACTED],
        ["cookie", REDACTED],
        ["x-internal", REDACTED],
        ["x-session-id", REDACTED],
        ["accept", "application/json"],
    ]
    assert redactor.secret_header("x-tenant-key")


@pytest.mark.parametrize(
    ("query", "kept"),
    [
        pytest.param("", "", id="empty"),
        pytest.param("page=2&q=dune", "page=2&q=dune", id="plain"),
        pytest.param(
            "access_token=abc&page=2&api_key=k&code=x&zip_code=1",
            "access_token=[redacted]&page=2&api_key=[redacted]&code=[redacted]&zip_code=1",
            id="secrets",
        ),
        pytest.param("password=&flag", "password=[redacted]&flag", id="blank-values"),
        pytest.param("x=1;token=abc&t=2", "x=1;token=[redacted]&t=2", id="semicolons"),
        pytest.param("to%6Ben=abc&q=a+b", "to%6Ben=[redacted]&q=a+b", id="encoded-name"),
        # What is not secret is kept as sent, so an exported test sends the same request.
        pytest.param("q=%E9&a&b=%2F", "q=%E9&a&b=%2F", id="kept-as-sent"),
    ],
)
def test_secret_query_parameters_are_redacted(query: str, kept: str) -> None:
    assert redaction.query(query) == kept


def test_json_and_form_bodies_keep_their_shape_without_secrets() -> None:
    raw = json.dumps({"user": "ann", "password": "pw", "items": [{"token": "t", "n": 1}]})
    assert json.loads(redaction.body(raw.encode(), "application/json") or "") == {
        "user": "ann",
        "password": REDACTED,
        "items": [{"token": REDACTED, "n": 1}],
    }
    form = redaction.body(b"user=ann&passwd=pw", "application/x-www-form-urlencoded")
    assert form == "user=ann&passwd=[redacted]"


def test_secrets_inside_a_request_body_s_values_are_redacted() -> None:
    raw = json.dumps({"next": "/cb?access_token=t0k&page=2", "db": "postgresql://u:pw9@h/d"})
    kept = json.loads(redaction.body(raw.encode(), "application/json") or "")
    assert kept == {
        "next": "/cb?access_token=[redacted]&page=2",
        "db": "postgresql://u:[redacted]@h/d",
    }


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        pytest.param(b"free text with a secret", "text/plain", id="not-structured"),
        pytest.param(b"{not json", "application/json", id="broken-json"),
        pytest.param(b"[" + b"1," * 3000 + b"1]", "application/json", id="too-large"),
    ],
)
def test_other_bodies_are_not_kept(raw: bytes, content_type: str) -> None:
    assert redaction.body(raw, content_type) is None


def test_secrets_in_other_request_headers_values_are_redacted() -> None:
    kept = Redactor().request_headers(
        [
            (b"Referer", b"https://a.example/cb?code=c0de&state=1"),
            (b"X-Upstream", b"https://svc:pa55@b.example/"),
        ]
    )
    assert kept == [
        ["referer", "https://a.example/cb?code=[redacted]&state=1"],
        ["x-upstream", "https://svc:[redacted]@b.example/"],
    ]


def test_a_long_header_value_is_read_in_linear_time() -> None:
    # The writer thread shares the GIL with the event loop: redacting must stay cheap.
    started = time.perf_counter()
    kept = Redactor().request_headers([(b"x-blob", b"a" * 65536 + b"&token=t0k")])
    assert kept == [["x-blob", "a" * 65536 + "&token=[redacted]"]]
    assert time.perf_counter() - started < 5  # 15 s and more when it was quadratic


def test_an_empty_body_is_kept_as_empty() -> None:
    assert redaction.body(b"", "") == ""


@pytest.mark.parametrize(
    ("difference", "hidden"),
    [
        pytest.param(Difference("header:set-cookie", "a=1", "a=2"), True, id="set-cookie"),
        pytest.param(Difference("header:vary", "a", "b"), False, id="plain-header"),
        pytest.param(
            Difference("body:$.user.api_key", "1", "2", ("user", "api_key")), True, id="body"
        ),
        pytest.param(
            Difference("body:$.session[0].x", "1", "2", ("session", 0, "x")), True, id="below"
        ),
        pytest.param(Difference("body:$.bio", '""', "null", ("bio",)), False, id="plain"),
    ],
)
def test_differences_in_secret_fields_lose_their_values(
    difference: Difference, hidden: bool
) -> None:
    kept = Redactor().difference(difference)
    assert kept["field"] == difference.field
    assert (kept["primary"] == REDACTED) is hidden
    assert (kept["shadow"] == REDACTED) is hidden


@pytest.mark.parametrize(
    ("difference", "secret", "kept"),
    [
        pytest.param(
            Difference(
                "body:$.user", '{"name": "ann", "password": "pw-1"}', "null", ("user",), "missing"
            ),
            "pw-1",
            '"name": "ann"',
            id="secret-field-inside-a-differing-object",
        ),
        pytest.param(
            Difference("body:$.items[0]", '[{"api_key": "k-1"}]', "(absent)", ("items", 0)),
            "k-1",
            "api_key",
            id="inside-a-list",
        ),
        pytest.param(
            Difference(
                "body:$.user", '{"name": "ann", "token": "tok-1", "bio": "long\u2026', "null"
            ),
            "tok-1",
            '"name": "ann"',
            id="shortened-json",
        ),
        pytest.param(
            Difference("body", '{"ok":true,"token":"tok-1"}\n', "oops"),
            "tok-1",
            '"ok"',
            id="json-body-against-a-text-body",
        ),
        pytest.param(
            Difference("header:location", "/done?code=c0de&state=1", "/done?state=1"),
            "c0de",
            "state=1",
            id="query-in-a-header",
        ),
        pytest.param(
            Difference("body", '<a href="/cb?access_token=t0k&amp;x=1">', ""),
            "t0k",
            "x=1",
            id="query-in-a-text-body",
        ),
        pytest.param(
            Difference("body:$.next", '"/page?sig=s1g&n=2"', '"/page?n=2"', ("next",)),
            "s1g",
            "n=2",
            id="query-in-a-json-string",
        ),
        pytest.param(
            Difference("body:$.hook", '"https://bot:pa55w0rd@hooks.example/x"', '""', ("hook",)),
            "pa55w0rd",
            "https://bot:",
            id="password-in-a-url",
        ),
    ],
)
def test_secrets_inside_differing_values_are_redacted(
    difference: Difference, secret: str, kept: str
) -> None:
    shown = Redactor().difference(difference)
    assert secret not in json.dumps(shown)
    assert REDACTED in shown["primary"]
    assert kept in shown["primary"]


@pytest.mark.parametrize(
    "name",
    [
        "password",
        "user_passwd",
        "pass",
        "x-auth-token",
        "auth",
        "authorization",
        "client_secret",
        "refresh-token",
        "sessionid",
        "api_key",
        "apikey",
        "private_key",
        "code",
        "sig",
        "x-goog-iap-jwt-assertion",
        "x-shopify-hmac-sha256",
        "user_otp",
    ],
)
def test_secret_names(name: str) -> None:
    assert redaction.secret_name(name)


@pytest.mark.parametrize(
    "name", ["author", "authors", "passenger", "bio", "zip_code", "keyboard", "title", "page"]
)
def test_ordinary_names(name: str) -> None:
    assert not redaction.secret_name(name)
