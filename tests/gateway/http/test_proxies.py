from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from starlette.types import Scope

from gateway.http import proxies
from gateway.http.proxies import (
    MAX_HOPS,
    ForwardedClient,
    ForwardedHeader,
    Hop,
    TrustedProxies,
    forwarded_hops,
    parse_address,
    x_forwarded_hops,
)
from gateway.settings import GatewaySettings


def scope(peer: str | None, *headers: tuple[str, str], kind: str = "http") -> Scope:
    return {
        "type": kind,
        "scheme": "ws" if kind == "websocket" else "http",
        "client": (peer, 5000) if peer else None,
        "headers": [(name.lower().encode(), value.encode("latin-1")) for name, value in headers],
    }


def resolved(
    allow: str,
    peer: str | None,
    *headers: tuple[str, str],
    header: ForwardedHeader = "x-forwarded-for",
) -> tuple[object, object]:
    request = scope(peer, *headers)
    ForwardedClient(TrustedProxies.parse(allow), header).apply(request)
    return request["client"], request["scheme"]


@pytest.mark.parametrize(
    ("allow", "headers", "expected"),
    [
        pytest.param("", [("X-Forwarded-For", "1.2.3.4")], ("10.0.0.1", 5000), id="trust-none"),
        pytest.param(
            "192.168.0.0/16", [("X-Forwarded-For", "1.2.3.4")], ("10.0.0.1", 5000), id="untrusted"
        ),
        pytest.param("10.0.0.1", [("X-Forwarded-For", "1.2.3.4")], ("1.2.3.4", 0), id="trusted"),
        pytest.param("10.0.0.0/8", [], ("10.0.0.1", 5000), id="no-header"),
        pytest.param(
            "10.0.0.0/8",
            [("X-Forwarded-For", "6.6.6.6, 1.2.3.4"), ("X-Forwarded-For", "10.9.9.9")],
            ("1.2.3.4", 0),
            id="right-most-untrusted-across-repeated-headers",
        ),
        pytest.param(
            "10.0.0.0/8", [("X-Forwarded-For", "10.1.1.1, 10.2.2.2")], ("10.1.1.1", 0), id="all"
        ),
        pytest.param("*", [("X-Forwarded-For", "10.2.2.2")], ("10.2.2.2", 0), id="star"),
        pytest.param(
            "10.0.0.0/8", [("X-Forwarded-For", "1.2.3.4:8080")], ("1.2.3.4", 8080), id="port"
        ),
        pytest.param(
            "10.0.0.0/8", [("X-Forwarded-For", "[2001:db8::1]:99")], ("2001:db8::1", 99), id="v6"
        ),
        pytest.param(
            "10.0.0.0/8",
            [("X-Forwarded-For", "1.2.3.4, unknown, 10.3.3.3")],
            ("10.3.3.3", 0),
            id="not-an-address-stops-at-the-hop-that-named-it",
        ),
        pytest.param(
            "10.0.0.0/8", [("X-Forwarded-For", "garbage")], ("10.0.0.1", 5000), id="garbage"
        ),
        pytest.param(
            "10.0.0.0/8", [("Forwarded", "for=1.2.3.4")], ("10.0.0.1", 5000), id="other-header"
        ),
    ],
)
def test_x_forwarded_for(
    allow: str, headers: list[tuple[str, str]], expected: tuple[str, int]
) -> None:
    assert resolved(allow, "10.0.0.1", *headers)[0] == expected


def test_an_ipv4_peer_seen_on_a_dual_stack_socket_is_matched_as_ipv4() -> None:
    client, _ = resolved("10.0.0.0/8", "::ffff:10.0.0.1", ("X-Forwarded-For", "1.2.3.4"))
    assert client == ("1.2.3.4", 0)


def test_no_peer_or_an_unparsable_one_changes_nothing() -> None:
    assert resolved("*", None, ("X-Forwarded-For", "1.2.3.4"))[0] is None
    assert resolved("*", "unix-socket", ("X-Forwarded-For", "1.2.3.4"))[0] == ("unix-socket", 5000)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param([("X-Forwarded-Proto", "https")], "https", id="one-value-for-any-hop"),
        pytest.param([("X-Forwarded-Proto", "https, http")], "https", id="aligned-with-hops"),
        pytest.param([("X-Forwarded-Proto", "gopher")], "http", id="unknown-scheme-ignored"),
        pytest.param([], "http", id="none"),
    ],
)
def test_x_forwarded_proto(headers: list[tuple[str, str]], expected: str) -> None:
    xff = ("X-Forwarded-For", "1.2.3.4, 10.5.5.5")
    assert resolved("10.0.0.0/8", "10.0.0.1", xff, *headers)[1] == expected


def test_x_forwarded_proto_alone_sets_the_scheme_and_keeps_the_peer() -> None:
    # As uvicorn and gunicorn do: a trusted proxy may report the scheme without an address.
    got = resolved("10.0.0.0/8", "10.0.0.1", ("X-Forwarded-Proto", "https"))
    assert got == (("10.0.0.1", 5000), "https")
    untrusted = resolved("192.168.0.0/16", "10.0.0.1", ("X-Forwarded-Proto", "https"))
    assert untrusted == (("10.0.0.1", 5000), "http")


def test_a_websocket_gets_the_ws_spelling_of_the_scheme() -> None:
    request = scope("10.0.0.1", ("X-Forwarded-For", "1.2.3.4"), ("X-Forwarded-Proto", "https"))
    request["type"] = "websocket"
    ForwardedClient(TrustedProxies.parse("10.0.0.0/8")).apply(request)
    assert request["scheme"] == "wss"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(
            'for=1.2.3.4;proto=https, for="10.1.1.1"', (("1.2.3.4", 0), "https"), id="two"
        ),
        pytest.param(
            'for="[2001:db8:cafe::17]:4711";proto=https',
            (("2001:db8:cafe::17", 4711), "https"),
            id="quoted-v6",
        ),
        pytest.param('For = "1.2.3.4" ; by=x', (("1.2.3.4", 0), "http"), id="spacing-case"),
        pytest.param("for=_hidden, for=10.1.1.1", (("10.1.1.1", 0), "http"), id="obfuscated"),
        pytest.param("proto=https", (("10.0.0.1", 5000), "https"), id="no-for-scheme-only"),
        pytest.param("for=1.2.3.4;;", (("10.0.0.1", 5000), "http"), id="malformed"),
        pytest.param('for="1.2.\\3.4"', (("1.2.3.4", 0), "http"), id="escaped"),
    ],
)
def test_forwarded(value: str, expected: tuple[tuple[str, int], str]) -> None:
    got = resolved("10.0.0.0/8", "10.0.0.1", ("Forwarded", value), header="forwarded")
    assert got == expected


@pytest.mark.parametrize(
    "sent",
    [
        pytest.param('for="unterminated', id="open-quote"),
        pytest.param("for=1.2.3.4;;", id="empty-pair"),
        pytest.param('garbage"', id="stray-quote"),
        pytest.param("for", id="no-value"),
    ],
)
def test_a_clients_malformed_forwarded_does_not_hide_the_hop_the_proxy_appended(
    sent: str,
) -> None:
    # The client sends garbage, the trusted proxy appends the address it saw: the client must
    # not become the proxy (an address apps and rate limits may trust) by spoiling the header.
    value = f"{sent}, for=203.0.113.9;proto=https"
    got = resolved("10.0.0.0/8", "10.0.0.1", ("Forwarded", value), header="forwarded")
    assert got == (("203.0.113.9", 0), "https")
    # The same garbage on its own header line, the proxy's element on the next.
    request = scope("10.0.0.1", ("Forwarded", sent), ("Forwarded", "for=203.0.113.9"))
    ForwardedClient(TrustedProxies.parse("10.0.0.0/8"), "forwarded").apply(request)
    assert request["client"] == ("203.0.113.9", 0)


def test_a_malformed_element_right_of_trusted_hops_ends_the_walk_at_the_nearest() -> None:
    value = "for=1.2.3.4, for=10.7.7.7, for=x y, for=10.8.8.8"
    got = resolved("10.0.0.0/8", "10.0.0.1", ("Forwarded", value), header="forwarded")
    assert got[0] == ("10.8.8.8", 0)


def test_forwarded_ignores_x_forwarded_for_when_chosen() -> None:
    got = resolved("10.0.0.0/8", "10.0.0.1", ("X-Forwarded-For", "1.2.3.4"), header="forwarded")
    assert got == (("10.0.0.1", 5000), "http")


def test_forwarded_hops_of_nothing_is_empty() -> None:
    assert forwarded_hops([]) == []


@pytest.mark.parametrize("text", ["", "1.2.3.4.5", "[::1", "[::1]x", "host.example"])
def test_parse_address_refuses_what_is_not_an_address(text: str) -> None:
    assert parse_address(text) is None


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        pytest.param("fd00::1%x y <b>", ("fd00::1", 0), id="zone-id-dropped"),
        pytest.param('"[fe80::1%eth0]:80"', ("fe80::1", 80), id="zone-id-bracketed"),
        pytest.param("::ffff:198.51.100.1", ("198.51.100.1", 0), id="ipv4-mapped"),
        pytest.param("1.2.3.4:99999", ("1.2.3.4", 0), id="port-out-of-range"),
    ],
)
def test_a_forwarded_client_is_a_plain_address_and_a_port(
    sent: str, expected: tuple[str, int]
) -> None:
    # REMOTE_ADDR and the access log get an address, never a zone id's free text, and one
    # spelling per client (rate limits and audit logs key on it).
    assert resolved("*", "10.0.0.1", ("X-Forwarded-For", sent))[0] == expected
    forwarded = f"for={sent if sent.startswith(chr(34)) else chr(34) + sent + chr(34)}"
    assert resolved("*", "10.0.0.1", ("Forwarded", forwarded), header="forwarded")[0] == expected


def test_a_port_that_is_not_a_number_is_dropped() -> None:
    parsed = parse_address("1.2.3.4:port")
    assert parsed is not None and parsed[1] == 0


def test_the_allow_list_is_validated_with_the_bad_item_named() -> None:
    with pytest.raises(ValueError, match="'10.0.0.0/33' is not an IP address or CIDR"):
        GatewaySettings(forwarded_allow_ips="127.0.0.1, 10.0.0.0/33")
    assert not TrustedProxies.parse(" , ")
    assert TrustedProxies.parse("10.0.0.0/8, ::1").trusts(parse_address("::1")[0])  # type: ignore[index]


def test_a_quoted_comma_in_the_proxys_element_is_read_from_the_right() -> None:
    value = 'for=6.6.6.6;x="a, b", for="203.0.113.9";proto=https;ext="p,q"'
    got = resolved("10.0.0.0/8", "10.0.0.1", ("Forwarded", value), header="forwarded")
    assert got == (("203.0.113.9", 0), "https")


def test_the_walk_stops_after_max_hops_trusted_proxies() -> None:
    chain = ", ".join(f"10.0.0.{hop}" for hop in range(1, 41))  # 40 trusted, right-most .40
    got = resolved("10.0.0.0/8", "10.0.0.1", ("X-Forwarded-For", f"1.2.3.4, {chain}"))
    assert got[0] == (f"10.0.0.{41 - MAX_HOPS}", 0)
    forwarded = ", ".join(f"for=10.0.0.{hop}" for hop in range(1, 41))
    got = resolved("10.0.0.0/8", "10.0.0.1", ("Forwarded", forwarded), header="forwarded")
    assert got[0] == (f"10.0.0.{41 - MAX_HOPS}", 0)


class Counting:
    """Wraps a function of the proxies module: how often it ran, and on how many characters."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
        self.function = getattr(proxies, name)
        self.calls = 0
        self.characters = 0
        monkeypatch.setattr(proxies, name, self)

    def __call__(self, text: str) -> object:
        self.calls += 1
        self.characters += len(text)
        return self.function(text)


MEGABYTE = 1 << 20


@pytest.mark.parametrize(
    ("header", "name", "value"),
    [
        pytest.param(
            "x-forwarded-for",
            "X-Forwarded-For",
            "10.1.1.1, " * (MEGABYTE // 10) + "10.2.2.2",
            id="xff",
        ),
        pytest.param(
            "forwarded",
            "Forwarded",
            "for=10.1.1.1;proto=https, " * (MEGABYTE // 26) + "for=10.2.2.2",
            id="fwd",
        ),
    ],
)
def test_a_megabyte_of_trusted_hops_is_read_only_as_far_as_the_hop_limit(
    monkeypatch: pytest.MonkeyPatch, header: ForwardedHeader, name: str, value: str
) -> None:
    addresses = Counting(monkeypatch, "parse_address")
    elements = Counting(monkeypatch, "_forwarded_element")
    got = resolved("10.0.0.0/8", "10.0.0.1", (name, value), header=header)
    assert got[0] == ("10.1.1.1", 0)
    assert addresses.calls <= MAX_HOPS + 1  # the peer, and the hops the walk went over
    assert elements.calls <= MAX_HOPS and elements.characters < 1000


def test_a_megabyte_of_quotes_and_commas_costs_a_few_pieces(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No element ever closes its quotes: the search gives up after a few pieces per hop.
    elements = Counting(monkeypatch, "_forwarded_element")
    value = '","' * (MEGABYTE // 3)
    got = resolved("10.0.0.0/8", "10.0.0.1", ("Forwarded", value), header="forwarded")
    assert got == (("10.0.0.1", 5000), "http")
    assert elements.calls == 0


def test_a_megabyte_of_x_forwarded_proto_is_read_from_the_right() -> None:
    protos = [b"gopher, " * (MEGABYTE // 8) + b"https"]
    hops = x_forwarded_hops([b"1.2.3.4"], protos)
    assert hops == [Hop("1.2.3.4", 0, "https")]
    assert len(x_forwarded_hops([b"10.0.0.1, " * 1000 + b"1.2.3.4"], protos)) == MAX_HOPS


def reference_forwarded_hops(values: list[bytes]) -> list[Hop]:
    """The left-to-right parse of every element this module did before it read from the
    right: a model for headers within the hop limit."""
    hops: list[Hop] = []
    text = ",".join(value.decode("latin-1") for value in values)
    position = 0
    pairs: dict[str, str] = {}
    while position < len(text):
        match = proxies._PAIR.match(text, position)
        if not pairs and not text[position:].partition(",")[0].strip():
            position = text.find(",", position) + 1 or len(text)  # an empty element: ignored
            continue
        if match is None or match.end() == position:
            hops.append(Hop(""))
            pairs = {}
            comma = text.find(",", position)
            if comma < 0:
                break
            position = comma + 1
            continue
        name, raw, separator = match.groups()
        value = proxies._UNESCAPE.sub(r"\1", raw[1:-1]) if raw.startswith('"') else raw
        pairs[name.lower()] = value
        position = match.end()
        if separator != ";":
            hops.append(Hop(pairs.get("for", ""), 0, pairs.get("proto")))
            pairs = {}
    if pairs:
        hops.append(Hop(""))  # a last element ending in `;`: malformed, as it is mid-header
    return hops


FRAGMENTS = ["for=", "proto=https", "1.2.3.4", "10.1.1.1", "10.2.2.2:80", '"[::1]"', "unknown"]
FRAGMENTS += ['"', ",", ", ", ";", " ", "x=", "\\", "_hidden"]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.lists(st.sampled_from(FRAGMENTS), max_size=12).map("".join), max_size=3))
def test_reading_from_the_right_finds_the_client_the_full_parse_finds(lines: list[str]) -> None:
    values = [line.encode("latin-1") for line in lines]
    assume(sum(line.count(",") + 1 for line in lines) <= MAX_HOPS)
    walk = ForwardedClient(TrustedProxies.parse("10.0.0.0/8"), "forwarded")
    expected = reference_forwarded_hops(values)
    got = forwarded_hops(values)

    def outcome(hops: list[Hop]) -> object:  # what ForwardedClient.apply makes of them
        return walk.client(hops) if hops else (None, None)

    assert outcome(got) == outcome(expected[::-1])
