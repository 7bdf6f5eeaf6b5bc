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
from collections.abc import Sequence
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
    try:
        address = ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    number = int(port) if port.isascii() and port.isdigit() else 0
    return address, number if number <= 65535 else 0


def forwarded_hops(values: Sequence[bytes]) -> list[Hop]:
    """The hops of RFC 7239 `Forwarded` headers, left to right.

    A malformed element is a hop that names no client, and parsing goes on after the next
    comma: the client writes the left of the header and a proxy appends its element to it, so
    a client that spoils its part must not spoil the proxy's (the client would then pass for
    the proxy, an address apps may trust)."""
    hops: list[Hop] = []
    text = ",".join(value.decode("latin-1") for value in values)
    position = 0
    pairs: dict[str, str] = {}
    while position < len(text):
        match = _PAIR.match(text, position)
        if match is None or match.end() == position:
            hops.append(Hop(""))
            pairs = {}
            comma = text.find(",", position)
            if comma < 0:
                break
            position = comma + 1
            continue
        name, raw, separator = match.groups()
        value = _UNESCAPE.sub(r"\1", raw[1:-1]) if raw.startswith('"') else raw
        pairs[name.lower()] = value
        position = match.end()
        if separator != ";":
            hops.append(Hop(pairs.get("for", ""), 0, pairs.get("proto")))
            pairs = {}
    return hops


def x_forwarded_hops(addresses: Sequence[bytes], protos: Sequence[bytes]) -> list[Hop]:
    """The hops of `X-Forwarded-For`, with `X-Forwarded-Proto` beside them.

    Proxies that append to X-Forwarded-Proto give one scheme per hop; most set it once, for
    the connection they received, so a single value applies to whichever hop is the client.
    A scheme with no address (X-Forwarded-Proto alone) is one hop that names no client."""
    split = [item.strip() for value in addresses for item in value.decode("latin-1").split(",")]
    schemes = [item.strip() for value in protos for item in value.decode("latin-1").split(",")]
    if len(schemes) == len(split):
        return [Hop(address, 0, proto) for address, proto in zip(split, schemes, strict=True)]
    last = schemes[-1] if schemes else None
    return [Hop(address, 0, last) for address in split] or [Hop("", 0, last)]


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

        The walk goes from the right, over trusted proxies, and stops at the first hop that is
        not one: that hop is the client (the left-most, if all are trusted). A hop that is not
        an address (`unknown`, an obfuscated name, none at all) also stops it; the client is
        then the nearest trusted hop (or the peer), so REMOTE_ADDR is always an address. The
        scheme is the one reported with the hop where the walk stopped."""
        nearest: tuple[str, int] | None = None
        for hop in reversed(hops):
            parsed = parse_address(hop.address)
            if parsed is None:
                return nearest, hop.proto
            address, port = parsed
            nearest = (str(address), port)
            if not self.proxies.trusts(address):
                return nearest, hop.proto
        return nearest, hops[0].proto

    def _hops(self, headers: Sequence[tuple[bytes, bytes]]) -> list[Hop]:
        if self.header == "forwarded":
            return forwarded_hops([value for name, value in headers if name == b"forwarded"])
        addresses = [value for name, value in headers if name == b"x-forwarded-for"]
        protos = [value for name, value in headers if name == b"x-forwarded-proto"]
        return x_forwarded_hops(addresses, protos) if addresses or protos else []
