"""HTTP/1.1 over a plain socket: requests sent byte for byte, responses read as they came.

httpx (like any client) normalises what it sends (paths, header case, framing) and what it
returns (decoded bodies, merged headers); a differential test needs neither. One request per
connection (`Connection: close`), so a response ends where the connection does.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass

Headers = list[tuple[bytes, bytes]]


@dataclass(frozen=True)
class Reply:
    status: int
    reason: bytes
    headers: Headers  # names in lowercase, in the order received; 1xx interim answers skipped
    body: bytes  # de-chunked

    def header(self, name: bytes) -> bytes | None:
        return next((value for key, value in self.headers if key == name), None)


def build_request(
    method: bytes,
    target: bytes,
    headers: Sequence[tuple[bytes, bytes]] = (),
    body: bytes = b"",
    chunks: Sequence[bytes] | None = None,
) -> bytes:
    """A request; `chunks` sends the body with chunked transfer coding instead of a length."""
    lines = [method + b" " + target + b" HTTP/1.1", b"Connection: close"]
    lines += [name + b": " + value for name, value in headers]
    if chunks is not None:
        lines.append(b"Transfer-Encoding: chunked")
        payload = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks if c) + b"0\r\n\r\n"
    else:
        if body or method in (b"POST", b"PUT", b"PATCH"):
            lines.append(b"Content-Length: %d" % len(body))
        payload = body
    return b"\r\n".join([*lines, b"", b""]) + payload


def send(port: int, request: bytes, *, timeout: float = 30.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        received = bytearray()
        while chunk := sock.recv(1 << 20):
            received += chunk
    return bytes(received)


def parse_reply(data: bytes, method: bytes) -> Reply:
    while True:
        head, separator, rest = data.partition(b"\r\n\r\n")
        if not separator:
            raise ValueError(f"no complete response head in {data[:200]!r}")
        status_line, *header_lines = head.split(b"\r\n")
        _version, code, reason = (status_line.split(b" ", 2) + [b""])[:3]
        status = int(code)
        if not 100 <= status < 200:
            break
        data = rest  # "100 Continue": the real answer follows
    headers: Headers = []
    for line in header_lines:
        name, _, value = line.partition(b":")
        headers.append((name.strip().lower(), value.strip()))
    reply = Reply(status, reason, headers, b"")
    if method == b"HEAD" or status in (204, 304):
        return reply
    if (reply.header(b"transfer-encoding") or b"").lower() == b"chunked":
        return Reply(status, reason, headers, dechunk(rest))
    length = reply.header(b"content-length")
    body = rest[: int(length)] if length is not None else rest
    if length is not None and len(body) < int(length):
        raise ValueError(f"body cut short: {len(body)} of {int(length)} bytes")
    return Reply(status, reason, headers, body)


def dechunk(data: bytes) -> bytes:
    body = bytearray()
    position = 0
    while True:
        line_end = data.index(b"\r\n", position)
        size = int(data[position:line_end].split(b";")[0], 16)
        position = line_end + 2
        if size == 0:
            if not data[position:].startswith(b"\r\n") and b"\r\n\r\n" not in data[position:]:
                raise ValueError("chunked body without its end")
            return bytes(body)
        if position + size + 2 > len(data):
            raise ValueError("chunked body cut short")
        body += data[position : position + size]
        position += size + 2


def request(
    port: int,
    method: bytes,
    target: bytes,
    headers: Sequence[tuple[bytes, bytes]] = (),
    body: bytes = b"",
    chunks: Sequence[bytes] | None = None,
) -> Reply:
    raw = build_request(method, target, headers, body, chunks)
    return parse_reply(send(port, raw), method)
