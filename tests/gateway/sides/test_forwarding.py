"""The headers a side over HTTP gets and gives back (RFC 9110 §7.6.1, RFC 7239)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.sides import forwarding


def scope(headers: list[tuple[bytes, bytes]], **values: Any) -> dict[str, Any]:
    return {"headers": headers, "scheme": "https", "client": ("10.0.0.9", 5000), **values}


def test_hop_by_hop_headers_and_those_connection_names_are_dropped() -> None:
    sent = forwarding.request_headers(
        scope(
            [
                (b"host", b"shop.example"),
                (b"connection", b"keep-alive, X-Trace-Hop"),
                (b"keep-alive", b"timeout=5"),
                (b"x-trace-hop", b"1"),
                (b"te", b"trailers"),
                (b"upgrade", b"h2c"),
                (b"transfer-encoding", b"chunked"),
                (b"x-request-id", b"abc"),
                (b"authorization", b"Bearer t"),
            ]
        )
    )
    names = [name for name, _ in sent]
    for hop in (b"connection", b"keep-alive", b"x-trace-hop", b"te", b"upgrade"):
        assert hop not in names
    assert b"transfer-encoding" not in names
    assert (b"x-request-id", b"abc") in sent and (b"authorization", b"Bearer t") in sent
    assert (b"host", b"shop.example") in sent


def test_the_client_is_named_by_the_gateway_not_by_the_client() -> None:
    sent = dict(
        forwarding.request_headers(
            scope(
                [(b"host", b"shop.example"), (b"x-forwarded-for", b"6.6.6.6")],
                root_path="/shop",
            )
        )
    )
    assert sent[b"x-forwarded-for"] == b"10.0.0.9"  # a forged chain is not passed on
    assert sent[b"x-forwarded-proto"] == b"https"
    assert sent[b"x-forwarded-host"] == b"shop.example"
    assert sent[b"x-forwarded-prefix"] == b"/shop"
    assert sent[b"forwarded"] == b'for=10.0.0.9;proto=https;host="shop.example"'


@pytest.mark.parametrize(
    ("address", "node"),
    [pytest.param("::1", b'for="[::1]"', id="ipv6"), pytest.param("1.2.3.4", b"for=1.2.3.4")],
)
def test_forwarded_quotes_ipv6(address: str, node: bytes) -> None:
    sent = dict(forwarding.request_headers(scope([], client=(address, 1))))
    assert sent[b"forwarded"].startswith(node + b";")


def test_answers_lose_hop_by_hop_and_server_written_headers() -> None:
    kept = forwarding.response_headers(
        [
            (b"content-type", b"text/plain"),
            (b"connection", b"close, x-private"),
            (b"x-private", b"1"),
            (b"transfer-encoding", b"chunked"),
            (b"server", b"uvicorn"),
            (b"date", b"Mon, 07 Dec 2026 17:00:00 GMT"),
            (b"set-cookie", b"a=1"),
            (b"set-cookie", b"b=2"),
        ]
    )
    assert kept == [
        (b"content-type", b"text/plain"),
        (b"set-cookie", b"a=1"),
        (b"set-cookie", b"b=2"),
    ]
