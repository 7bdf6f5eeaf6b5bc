"""uvicorn's h11 protocol with the request head bounded in size and time.

h11 bounds what it buffers of an incomplete event, which in a server is the request head
(uvicorn's `h11_max_incomplete_event_size`, 16 KiB by default), but uvicorn answers it 400
like any malformed request; and nothing bounds the time. Here the bound is
`GATEWAY_MAX_HEADER_BYTES`, answered 431, with the head's deadline.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from gateway.server.head import FIELD_FRAMING, LINE_FRAMING, HeadDeadline


class _Connection(h11.Connection):
    """h11's connection, with the limit on complete heads as well, keeping the status its
    last refusal of the peer suggested.

    h11 bounds what it buffers of an event still incomplete: a head that arrives whole in
    one read, however large, passes. Its size is checked here when h11 hands it over."""

    refused_with = 400

    def __init__(self, max_head: int) -> None:
        super().__init__(h11.SERVER, max_incomplete_event_size=max_head)
        self.max_head = max_head

    def next_event(self) -> Any:
        try:
            event = super().next_event()
            if type(event) is h11.Request and _head_size(event) > self.max_head:
                raise h11.RemoteProtocolError("request head too large", error_status_hint=431)
        except h11.RemoteProtocolError as exc:
            self.refused_with = exc.error_status_hint
            raise
        return event


def _head_size(request: h11.Request) -> int:
    """The head's bytes, as the httptools protocol counts them."""
    fields = sum(len(name) + len(value) + FIELD_FRAMING for name, value in request.headers)
    return LINE_FRAMING + len(request.target) + fields


class LimitedH11Protocol(HeadDeadline, H11Protocol):
    __slots__ = ()

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._init_head()
        self.conn = _Connection(self.max_head)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self.discarding:
            super().data_received(data)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._start_head()

    def send_400_response(self, msg: str) -> None:
        conn = self.conn
        if isinstance(conn, _Connection) and conn.refused_with == 431:
            self._refuse(431, f"request head larger than {self.max_head} bytes")
        else:
            super().send_400_response(msg)

    def _request_in_flight(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def _head_begun(self) -> bool:
        return bool(self.conn.trailing_data[0])
