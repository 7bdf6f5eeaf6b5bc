"""The headers of a request forwarded to a side over HTTP, and of the answer coming back.

A proxy passes on end-to-end headers and drops hop-by-hop ones (RFC 9110 §7.6.1): those that
concern one connection only, the fixed list below and any header the `Connection` header names.
The client's `Host` is kept, so the side builds the URLs the client sees, as it does
in-process. The client's address, scheme and host are passed on in `X-Forwarded-For`,
`-Proto`, `-Host` and in `Forwarded` (RFC 7239); the gateway's request id travels in
`X-Request-ID`, already in the scope the sides get.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import Scope

Headers = list[tuple[bytes, bytes]]

# RFC 9110 §7.6.1 names Connection, Proxy-Connection, Keep-Alive, TE, Transfer-Encoding and
# Upgrade. Transfer-Encoding is the connection's framing: each hop frames the body itself.
HOP_BY_HOP = frozenset(
    {b"connection", b"proxy-connection", b"keep-alive", b"te", b"transfer-encoding", b"upgrade"}
)
# The client's address as the gateway resolved it (trusted proxies applied, see
# gateway.http.proxies) replaces whatever a client wrote in these: the side trusts the gateway
# alone, so it must not be handed a chain a client could have forged.
FORWARDING = frozenset(
    {b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host", b"x-forwarded-prefix"}
) | {b"forwarded"}
# Written by the gateway's own server on every answer: a side's would reach the client twice,
# and answers of in-process sides have neither, so a shadow comparison would flag them.
SERVER_WRITTEN = frozenset({b"date", b"server"})


def dropped(headers: Iterable[tuple[bytes, bytes]]) -> set[bytes]:
    """The hop-by-hop header names of a message: the fixed ones and those `Connection` names."""
    names = set(HOP_BY_HOP)
    for name, value in headers:
        if name.lower() == b"connection":
            names.update(token.strip().lower() for token in value.split(b",") if token.strip())
    return names


def request_headers(scope: Scope) -> Headers:
    """The headers a side gets for `scope`: end-to-end ones, and the forwarding headers."""
    incoming: Headers = scope["headers"]
    drop = dropped(incoming) | FORWARDING
    kept = [(name, value) for name, value in incoming if name.lower() not in drop]
    return kept + forwarding_headers(scope)


def response_headers(headers: Iterable[tuple[bytes, bytes]]) -> Headers:
    """A side's answer headers as the client gets them (no hop-by-hop ones)."""
    headers = list(headers)
    drop = dropped(headers) | SERVER_WRITTEN
    return [(name, value) for name, value in headers if name.lower() not in drop]


def forwarding_headers(scope: Scope) -> Headers:
    scheme: str = scope.get("scheme", "http")
    host = next((value for name, value in scope["headers"] if name.lower() == b"host"), None)
    forwarded = [f"proto={scheme}".encode("ascii")]
    added: Headers = [(b"x-forwarded-proto", scheme.encode("ascii"))]
    client = scope.get("client")
    if client:
        address = str(client[0])
        added.append((b"x-forwarded-for", address.encode("latin-1")))
        # RFC 7239 §6: an IPv6 address is bracketed, and then the value must be quoted.
        node = f'"[{address}]"' if ":" in address else address
        forwarded.insert(0, f"for={node}".encode("latin-1"))
    if host is not None:
        added.append((b"x-forwarded-host", host))
        forwarded.append(b'host="' + host.replace(b'"', b"") + b'"')
    root_path: str = scope.get("root_path", "")
    if root_path:
        added.append((b"x-forwarded-prefix", root_path.encode("utf-8")))
    added.append((b"forwarded", b";".join(forwarded)))
    return added
