from __future__ import annotations

import json
import time

import pytest

from gateway.compare import Difference
from gateway.parity import redaction
from gateway.parity.redaction import REDACTED, Redactor


def test_only_safe_headers_keep_their_values() -> None:
    redactor = Redactor(["X-Request-Id "], safe_headers=["x-tenant", ""])
    kept = redactor.request_headers(
        [
            (b"Authorization", b"Bearer s3cret"),
            (b"cookie", b"session=abc"),
            (b"Ocp-Apim-Subscription-Key", b"k1"),
            (b"X-Functions-Key", b"k2"),
            (b"X-Access-Key", b"k3"),
            (b"DPoP", b"eyJ.proof"),
            (b"x-anything-new", b"v"),
            (b"x-request-id", b"r1"),
            (b"x-tenant", b"acme"),
            (b"accept", b"application/json"),
            (b"content-length", b"0"),
            (b"x-gateway-shadow", b"1"),
        ]
    )
    assert kept == [
        ["authorization", REDACTED],
        ["cookie", REDACTED],
        ["ocp-apim-subscription-key", REDACTED],
        ["x-functions-key", REDACTED],
        ["x-access-key", REDACTED],
        ["dpop", REDACTED],
        ["x-anything-new", REDACTED],
        ["x-request-id", REDACTED],  # named to hide: hidden although safe by default
        ["x-tenant", "acme"],  # added to the safe ones
        ["accept", "application/json"],
    ]
    assert redactor.secret_header("X-Functions-Key")
    assert not redactor.secret_header("Content-Type")


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


def test_secrets_in_safe_headers_values_are_redacted() -> None:
    kept = Redactor(safe_headers=["x-upstream"]).request_headers(
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
    kept = Redactor(safe_headers=["x-blob"]).request_headers(
        [(b"x-blob", b"a" * 65536 + b"&token=t0k")]
    )
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
        "newPass",
        "basicAuth",
        "otpCode",
        "accessKey",
        "ocp-apim-subscription-key",
        "X-Functions-Key",
        "DPoP",
        "clientSecret",
        "refreshToken",
    ],
)
def test_secret_names(name: str) -> None:
    assert redaction.secret_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "author",
        "authors",
        "passenger",
        "bio",
        "zip_code",
        "zipCode",
        "keyboard",
        "title",
        "page",
        "passengerName",
        "authorId",
    ],
)
def test_ordinary_names(name: str) -> None:
    assert not redaction.secret_name(name)


@pytest.mark.parametrize(
    ("raw", "content_type", "secret"),
    [
        pytest.param(
            b"%7B%22password%22%3A%22hunter2%22%7D=",
            "application/x-www-form-urlencoded",
            "hunter2",
            id="json-as-a-form-body",
        ),
        pytest.param(
            b'{"password":"hunter2"}=', "application/x-www-form-urlencoded", "hunter2", id="raw"
        ),
        pytest.param(
            json.dumps(
                {"newPass": "p1", "basicAuth": "p2", "otpCode": "p3", "accessKey": "p4"}
            ).encode(),
            "application/json",
            "p1 p2 p3 p4",
            id="camel-case-names",
        ),
        pytest.param(
            json.dumps({"fields": [{"name": "password", "value": "hunter2"}]}).encode(),
            "application/json",
            "hunter2",
            id="name-value-list",
        ),
        pytest.param(
            json.dumps({"config": 'url=x secret="hunter2" other=1'}).encode(),
            "application/json",
            "hunter2",
            id="quoted-value",
        ),
    ],
)
def test_secret_shapes_in_bodies_are_redacted(raw: bytes, content_type: str, secret: str) -> None:
    kept = redaction.body(raw, content_type)
    assert kept is not None and REDACTED in kept
    for word in secret.split():
        assert word not in kept, kept


def test_a_name_value_pair_keeps_its_name_and_other_pairs() -> None:
    raw = json.dumps([{"name": "password", "value": "x1"}, {"name": "city", "value": "Oslo"}])
    assert json.loads(redaction.body(raw.encode(), "application/json") or "") == [
        {"name": "password", "value": REDACTED},
        {"name": "city", "value": "Oslo"},
    ]


@pytest.mark.parametrize(
    ("text", "secret", "kept"),
    [
        pytest.param('[{"name": "password", "value": "x1"}, {"na', "x1", '"password"', id="list"),
        pytest.param('Digest realm="r", secret="x1", qop="auth"', "x1", 'realm="r"', id="quoted"),
        pytest.param("cfg: accessKey='x1' region=eu", "x1", "region=eu", id="single-quoted"),
    ],
)
def test_secret_shapes_in_shown_values_are_redacted(text: str, secret: str, kept: str) -> None:
    shown = redaction.value(text)
    assert secret not in shown
    assert kept in shown
