"""uvicorn's httptools protocol with the request head bounded in size and time.

httptools (llhttp) has no limit of its own: it hands over each header when complete, and
buffers the one in progress however long it grows (a growing bytes object, copied at each
piece). The head is measured two ways, so that neither a finished field nor one in progress
escapes the limit, and neither can refuse a request that keeps to it:

- the fields parsed: the target plus each header's name and value, as they are handed over,
  checked when the head is complete (exact);
- the bytes received while reading a head, for the field still in progress: only chunks that
  begin inside a head are counted, and the count is reset where the head ends, so a body or
  the next pipelined request never counts against a head.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from gateway.server.head import FIELD_FRAMING, LINE_FRAMING, HeadDeadline, HeadTooLarge


class LimitedHttpToolsProtocol(HeadDeadline, HttpToolsProtocol):
    __slots__ = ("in_head", "head_received", "head_size")  # see HeadDeadline

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._init_head()
        self.in_head = True  # reading a head: from the end of the previous request's message
        self.head_received = 0  # bytes of the chunks that began inside the head being read
        self.head_size = LINE_FRAMING  # the fields of the head being parsed

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # uvicorn's, with the head's two measures.
        if self.discarding:
            return
        if self.in_head:
            self.head_received += len(data)
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            if isinstance(exc.__context__, HeadTooLarge):
                self._refuse(431, f"request head larger than {self.max_head} bytes")
            else:
                self._invalid()
            return
        except httptools.HttpParserError:
            self._invalid()
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if self.in_head and self.head_received > self.max_head:
            self._refuse(431, f"request head larger than {self.max_head} bytes")

    def on_header(self, name: bytes, value: bytes) -> None:
        # uvicorn's, plus the count (trailers of a chunked body count as well), checked when
        # the head is complete: what one read holds is bounded already.
        self.head_size += len(name) + len(value) + FIELD_FRAMING
        name = name.lower()
        value = value.rstrip(b" \t")
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect_100_continue = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        if self.head_size + len(self.url) > self.max_head:
            raise HeadTooLarge
        self.in_head = False
        self.head_received = 0
        self.head_size = LINE_FRAMING  # from here on, the trailers'
        super().on_headers_complete()

    # The methods below run once per request: they copy uvicorn's few lines rather than call
    # them, each call of a Python function being a measurable part of a request's cost.
    def on_message_complete(self) -> None:
        if self.head_size > self.max_head:  # the trailers'
            raise HeadTooLarge
        self.in_head = True
        self.head_size = LINE_FRAMING
        if (
            self.parser.should_upgrade() and self._should_upgrade()
        ) or self.cycle.response_complete:
            return
        self.cycle.more_body = False
        self.cycle.message_event.set()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._head_since = self.loop.time()  # as _start_head, one call fewer
            if self._head_timer is None:
                self._head_timer = self.loop.call_later(self.limits.timeout, self._head_deadline)

    def _request_in_flight(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def _head_begun(self) -> bool:
        return self.head_received > 0

    def _invalid(self) -> None:
        message = "Invalid HTTP request received."
        self.logger.warning(message)
        self.send_400_response(message)
