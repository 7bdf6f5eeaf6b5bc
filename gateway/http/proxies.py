"""The client's address and scheme behind trusted proxies (`GATEWAY_FORWARDED_ALLOW_IPS`).

Behind a load balancer every connection comes from the balancer; the client is named in a
header the balancer adds (`X-Forwarded-For` and `-Proto`, or RFC 7239's `Forwarded`). Anyone
can send those headers, so they are read only when the connection comes from a configured
proxy, and then walked from the right, skipping trusted hops: the first address that is not a
trusted proxy is the client (NGINX's `real_ip_recursive on`). Left of it, everything was
written by the client and is ignored.

The gateway rewrites the scope's `client` and `scheme` once, before anything reads them, so
the access log, the metrics, routing rules, the legacy app's REMOTE_ADDR and the new app's
`request.client` all see the same address. uvicorn's own proxy-headers middleware is switched
off (`proxy_headers=False`) so that no second, differently configured pass applies.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from starlette.types import Scope

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
ForwardedHeader = Literal["x-forwarded-for", "forwarded"]

_SCHEMES = {"http", "https"}
# One `name=value` pair of a Forwarded element; the value a token or a quoted string.
_PAIR = re.compile(
    r"""\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;,"\s]*)\s*([;,]|$)"""
)
_UNESCAPE = re.compile(r"\\(.)")
# The walk from the right looks at this many hops at most: a chain of proxies is a few long,
# and a header of thousands of hops is a client's, left of the first hop that is not trusted.
MAX_HOPS = 16
# Pieces between commas looked at per hop: a quoted comma splits an element in two.
_PIECES_PER_HOP = 4


@dataclass(frozen=True, slots=True)
class Hop:
    """One proxy's report of the connection it received: the address, its port, the scheme."""

    address: str
    port: int = 0
    proto: str | None = None


class TrustedProxies:
    """The proxies whose forwarding headers are believed, and the header they write."""

    def __init__(self, networks: Sequence[IPNetwork], *, trust_all: bool = False) -> None:
        self.networks = tuple(networks)
        self.trust_all = trust_all

    @classmethod
    def parse(cls, value: str) -> TrustedProxies:
        """From a comma-separated list of addresses and CIDRs, or `*` for every peer.

        Raises ValueError naming the first item that is neither."""
        items = [item.strip() for item in value.split(",") if item.strip()]
        if "*" in items:
            return cls((), trust_all=True)
        networks: list[IPNetwork] = []
        for item in items:
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                example = "e.g. 10.0.0.0/8"
                raise ValueError(f"{item!r} is not an IP address or CIDR ({example})") from None
        return cls(networks)

    def __bool__(self) -> bool:
        return self.trust_all or bool(self.networks)

    def trusts(self, address: IPAddress) -> bool:
        if self.trust_all:
            return True
        return any(address in network for network in self.networks)


def parse_address(text: str) -> tuple[IPAddress, int] | None:
    """An address as proxies write it: `1.2.3.4`, `1.2.3.4:80`, `::1`, `[::1]:80`; None if not."""
    text = text.strip().strip('"')
    port = "0"
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket:
            return None
        if rest.startswith(":"):
            port = rest[1:]
        elif rest:
            return None
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host = text
    # A zone id (`fe80::1%eth0`) names a link of the machine that wrote it, and is free text:
    # it is dropped, as is a port no TCP connection has, and an IPv4 address spelled as IPv6
    # (how a dual-stack socket sees an IPv4 peer) is written as IPv4: one spelling per client
    # in REMOTE_ADDR and the log, and one match against the trusted networks.
    address = _ip_address(host.partition("%")[0])
    if address is None:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    number = int(port) if port.isascii() and port.isdigit() else 0
    return address, number if number <= 65535 else 0


def _ip_address(text: str) -> IPAddress | None:
    """`ipaddress.ip_address`, four times faster: the C parser of the socket module reads the
    text (the walk may parse MAX_HOPS addresses per request)."""
    try:
        if ":" in text:
            return ipaddress.IPv6Address(socket.inet_pton(socket.AF_INET6, text))
        return ipaddress.IPv4Address(socket.inet_pton(socket.AF_INET, text))
    except (OSError, UnicodeEncodeError, ValueError):  # not an address; not ASCII; a NUL
        return None


def _elements_from_the_right(values: Sequence[bytes], budget: int) -> Iterator[bytes]:
    """The comma-separated elements of a list header, right-most first, across its lines.

    A comma inside a quoted string (RFC 7239 allows one in a parameter's value) does not end
    an element: a piece with an odd number of quotes is joined to the one on its left. The
    search stops after `budget` pieces, so a header of a million commas or quotes costs as
    much as a short one; what is left of it is not looked at."""
    for value in reversed(values):
        element_end = end = len(value)
        quotes = 0
        while end >= 0:
            if budget == 0:
                return
            budget -= 1
            comma = value.rfind(b",", 0, end)
            quotes += _quotes(value[comma + 1 : end])
            end = comma
            if quotes % 2 == 0 or comma < 0:
                yield value[comma + 1 : element_end]
                element_end = comma
                quotes = 0


def _items_from_the_right(values: Sequence[bytes], limit: int) -> list[str]:
    """The first `limit` items of a plain comma-separated list header, right-most first."""
    items: list[str] = []
    for value in reversed(values):
        for item in reversed(value.rsplit(b",", limit - len(items))[-(limit - len(items)) :]):
            if item.strip():  # an empty list element, which RFC 9110 says to ignore
                items.append(item.strip().decode("latin-1"))
        if len(items) >= limit:
            break
    return items


def _quotes(text: bytes) -> int:
    return text.count(b'"') - text.count(b'\\"')


def _forwarded_element(text: str) -> Hop:
    """One element of `Forwarded` (`for=...;proto=...`); a malformed one names no client."""
    pairs: dict[str, str] = {}
    position = 0
    separator = ""
    while position < len(text):
        match = _PAIR.match(text, position)
        if match is None or match.end() == position:
            return Hop("")
        name, raw, separator = match.groups()
        pairs[name.lower()] = _UNESCAPE.sub(r"\1", raw[1:-1]) if raw.startswith('"') else raw
        position = match.end()
    if separator:  # `;` (or a quoted comma's `,`) with no pair after it
        return Hop("")
    return Hop(pairs.get("for", ""), 0, pairs.get("proto"))


def forwarded_hops(values: Sequence[bytes], limit: int = MAX_HOPS) -> list[Hop]:
    """The hops of RFC 7239 `Forwarded` headers, nearest first, at most `limit`.

    Read from the right, only as far as the walk may go: each element is parsed on its own,
    so a malformed element is a hop that names no client and spoils no other (the client
    writes the left of the header and a proxy appends its element to it: a client that spoils
    its part must not spoil the proxy's, or the client would pass for the proxy, an address
    apps may trust)."""
    hops: list[Hop] = []
    for element in _elements_from_the_right(values, limit * _PIECES_PER_HOP):
        if not element.strip():
            continue  # an empty list element, which RFC 9110 says to ignore
        hops.append(_forwarded_element(element.decode("latin-1")))
        if len(hops) == limit:
            break
    return hops


def x_forwarded_hops(
    addresses: Sequence[bytes], protos: Sequence[bytes], limit: int = MAX_HOPS
) -> list[Hop]:
    """The hops of `X-Forwarded-For`, with `X-Forwarded-Proto` beside them, nearest first, at
    most `limit`.

    Proxies that append to X-Forwarded-Proto give one scheme per hop; most set it once, for
    the connection they received, so a single value applies to whichever hop is the client.
    A scheme with no address (X-Forwarded-Proto alone) is one hop that names no client."""
    schemes = _items_from_the_right(protos, limit)
    # Counting commas is a C loop over the bytes (nothing else looks past the limit), needed
    # only when there are schemes to pair: one scheme applies to every hop either way.
    aligned = len(schemes) > 1 and _count_items(addresses) == _count_items(protos)
    last = schemes[0] if schemes else None
    hops = [
        Hop(address, 0, schemes[index] if aligned else last)
        for index, address in enumerate(_items_from_the_right(addresses, limit))
    ]
    return hops or [Hop("", 0, last)]


def _count_items(values: Sequence[bytes]) -> int:
    return sum(value.count(b",") + 1 for value in values)


class ForwardedClient:
    """Rewrites a scope's `client` and `scheme` from the trusted proxies' headers."""

    def __init__(self, proxies: TrustedProxies, header: ForwardedHeader = "x-forwarded-for"):
        self.proxies = proxies
        self.header = header

    def apply(self, scope: Scope) -> None:
        peer = scope.get("client")
        parsed = parse_address(peer[0]) if peer else None
        if parsed is None or not self.proxies.trusts(parsed[0]):
            return  # not from a proxy: its headers are the client's own word
        hops = self._hops(scope["headers"])
        if not hops:
            return
        client, proto = self.client(hops)
        if client is not None:
            scope["client"] = client
        if proto is not None and proto.lower() in _SCHEMES:
            proto = proto.lower()
            scope["scheme"] = proto.replace("http", "ws") if scope["type"] == "websocket" else proto

    def client(self, hops: Sequence[Hop]) -> tuple[tuple[str, int] | None, str | None]:
        """The client's address and port (None: the peer's stand), and the scheme it used.

        `hops` are nearest first. The walk goes over trusted proxies and stops at the first hop
        that is not one: that hop is the client (the last one given, if all are trusted: the
        left-most, or the MAX_HOPS-th from the right). A hop that is not an address
        (`unknown`, an obfuscated name, none at all) also stops it; the client is then the
        nearest trusted hop (or the peer), so REMOTE_ADDR is always an address. The scheme is
        the one reported with the hop where the walk stopped."""
        nearest: tuple[IPAddress, int] | None = None
        proto = hops[-1].proto if hops else None
        for hop in hops:
            parsed = parse_address(hop.address)
            if parsed is None:
                proto = hop.proto
                break
            nearest = parsed
            if not self.proxies.trusts(parsed[0]):
                proto = hop.proto
                break
        return (str(nearest[0]), nearest[1]) if nearest else None, proto

    def _hops(self, headers: Sequence[tuple[bytes, bytes]]) -> list[Hop]:
        if self.header == "forwarded":
            return forwarded_hops([value for name, value in headers if name == b"forwarded"])
        addresses = [value for name, value in headers if name == b"x-forwarded-for"]
        protos = [value for name, value in headers if name == b"x-forwarded-proto"]
        return x_forwarded_hops(addresses, protos) if addresses or protos else []
