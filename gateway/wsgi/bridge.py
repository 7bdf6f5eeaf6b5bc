"""`WSGIBridge`: the legacy WSGI app as a pure ASGI app, run in a bounded pool of threads.

Why not a2wsgi's `WSGIMiddleware` as it is (shared notes, field-notes.md): every response crosses
from the worker thread to the event loop at least three times (head, each chunk, end), which
halves throughput next to gunicorn; its queue of waiting calls has no bound; an abandoned
stream keeps its thread until the generator ends, if ever. What the bridge does instead:

- A response whose `Content-Length` is known and at most `buffer_limit` (what Werkzeug declares
  for every non-streamed response) is collected in the worker thread: the app is called, its
  iterable read and closed there, and the loop receives the whole answer in one hop.
- Anything else streams through a bounded `ResponsePipe`; its head goes out with the first
  chunk, so a generator's first chunk reaches the client while the generator still runs.
- `close()` on the app's iterable is always called, in the worker thread, before the response
  ends: success, app error, or a client that left (the pipe then refuses the next chunk).
- Requests admitted but not finished (running or waiting for a thread) are bounded by
  `threads + queue_limit`; beyond it the answer is 503 with Retry-After, and `on_reject` is
  called (the gateway counts it).
- The context (contextvars) of the request's task is copied into the worker thread.
"""

from __future__ import annotations

import asyncio
import contextvars
import io
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from starlette.types import Message, Receive, Scope, Send

from gateway.http.responses import send_json
from gateway.wsgi.environ import build_environ
from gateway.wsgi.pipe import ClientGone, ResponsePipe
from gateway.wsgi.pool import PoolClosed, WorkerPool
from gateway.wsgi.request_body import RequestBody
from gateway.wsgi.response import ResponseHead, parse_head

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import WSGIApplication

logger = logging.getLogger("gateway.wsgi")

# Bytes in flight between the loop and a worker thread, each way, for one request.
STREAM_LIMIT = 256 * 1024
RETRY_AFTER_SECONDS = 1
_OVERLOADED = {
    "error": "overloaded",
    "detail": "the legacy application is at capacity; retry later",
}


@dataclass(frozen=True, slots=True)
class Buffered:
    head: ResponseHead
    body: bytes


@dataclass(frozen=True, slots=True)
class Streamed:
    head: ResponseHead


class WSGIBridge:
    def __init__(
        self,
        app: WSGIApplication,
        *,
        threads: int = 16,
        queue_limit: int = 64,
        buffer_limit: int = 1024 * 1024,
        on_reject: Callable[[], None] | None = None,
    ) -> None:
        self.app = app
        self.threads = threads
        self.queue_limit = queue_limit
        self.buffer_limit = buffer_limit
        self.on_reject = on_reject
        self.pool = WorkerPool(threads)
        self._capacity = threads + queue_limit
        self._admitted = 0  # calls submitted and not finished; decremented by worker threads
        self._admitted_lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1000})
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Read the first body message here: for a request without a body (or a small one),
        # the whole body is then at hand and the worker thread never waits on the loop for it.
        first = await receive()
        if first["type"] != "http.request":
            return  # the client left before the request was complete
        if not self._admit():
            if self.on_reject is not None:
                self.on_reject()
            await _send_overloaded(send)
            return
        call = _Call(self, asyncio.get_running_loop(), scope, receive, first)
        try:
            self.pool.submit(partial(contextvars.copy_context().run, call.run))
        except PoolClosed:
            self._release()
            raise
        try:
            await call.respond(send)
        finally:
            call.abandon()

    def _admit(self) -> bool:
        with self._admitted_lock:
            if self._admitted >= self._capacity:
                return False
            self._admitted += 1
            return True

    def _release(self) -> None:
        with self._admitted_lock:
            self._admitted -= 1

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        self.pool.shutdown()
        await send({"type": "lifespan.shutdown.complete"})


class _Call:
    """One request's WSGI call: run in a worker thread (`run`), answered on the loop (`respond`).

    Both sides share this object; each attribute is written by one side only, except the pipe
    and the request body, which lock.
    """

    def __init__(
        self,
        bridge: WSGIBridge,
        loop: asyncio.AbstractEventLoop,
        scope: Scope,
        receive: Receive,
        first: Message,
    ) -> None:
        self.app = bridge.app
        self.buffer_limit = bridge.buffer_limit
        self.release = bridge._release
        self.loop = loop
        self.receive = receive
        self.method: str = scope["method"]
        self.outcome: asyncio.Future[Buffered | Streamed] = loop.create_future()
        # Made by the worker thread if the response streams, before the loop learns it does.
        self.pipe: ResponsePipe | None = None
        self.abandoned = False  # the loop is done with this request
        self.gone = False  # the client disconnected
        piece: bytes = first.get("body", b"")
        self.body: RequestBody | None = None
        stream: Any = io.BytesIO(piece)
        if first.get("more_body", False):
            stream = self.body = RequestBody(loop, receive, piece, STREAM_LIMIT)
        self.environ = build_environ(scope, stream)
        self.listener: asyncio.Task[None] | None = None
        if self.body is not None:
            self.listener = loop.create_task(self._listen())
        # Worker-thread state.
        self.head: ResponseHead | None = None
        self.head_sent = False
        self.streaming = False
        self.written: list[bytes] = []  # from write(), and the collected body when buffered
        self.remaining: int | None = None  # bytes still allowed by the declared Content-Length

    # --- event loop ---------------------------------------------------------------------------

    async def respond(self, send: Send) -> None:
        answer = await self.outcome
        head = answer.head
        await send({"type": "http.response.start", "status": head.status, "headers": head.headers})
        if isinstance(answer, Buffered):
            await send({"type": "http.response.body", "body": answer.body})
            return
        if self.listener is None:
            self.listener = self.loop.create_task(self._listen())
        pipe = self.pipe
        assert pipe is not None  # a Streamed answer comes after the pipe is made
        more = True
        while more:
            data, more = await pipe.get()
            if data or not more:
                await send({"type": "http.response.body", "body": data, "more_body": more})

    async def _listen(self) -> None:
        """Feed the request body to the worker thread, then wait for the client to leave.

        uvicorn's `send` returns silently once the client is gone, so `receive` answering
        `http.disconnect` is the only sign of it. The task is cancelled when the response ends.
        """
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                break
            if self.body is not None:
                await self.body.feed(message.get("body", b""), message.get("more_body", False))
        self.gone = True  # set before reading self.pipe: the thread sets them the other way round
        self._stop()

    def abandon(self) -> None:
        """The response is over (or failed, or was cancelled): release the worker thread."""
        self.abandoned = True
        if self.listener is not None:
            self.listener.cancel()
        self._stop()

    def _stop(self) -> None:
        if self.pipe is not None:
            self.pipe.close()
        if self.body is not None:
            self.body.disconnect()

    # --- worker thread ------------------------------------------------------------------------

    def run(self) -> None:
        try:
            if not self.abandoned:  # still wanted after waiting in the queue
                self._run()
        finally:
            self.release()

    def _run(self) -> None:
        try:
            iterable = self.app(self.environ, self._start_response)
        except BaseException as exc:
            self._answer(_as_error(exc))
            return
        result: Buffered | BaseException | None = None
        try:
            result = self._read(iterable)
        except ClientGone:
            pass
        except BaseException as exc:
            result = _as_error(exc)
        _close(iterable)
        if not self.streaming or not self.head_sent:
            self._answer(result or RuntimeError("the WSGI response ended without a head"))
        elif self.pipe is not None:
            self.pipe.finish(result if isinstance(result, BaseException) else None)

    def _read(self, iterable: Iterable[bytes]) -> Buffered | None:
        head = self.head
        if head is not None and (
            not head.has_body or (head.length is not None and head.length <= self.buffer_limit)
        ):
            for chunk in iterable:
                self.written.append(chunk)
            head = self.head or head  # start_response may have been called again (exc_info)
            body = b"".join(self.written) if head.has_body else b""
            return Buffered(head, body if head.length is None else body[: head.length])
        self.streaming = True
        self.pipe = ResponsePipe(self.loop, STREAM_LIMIT)
        if self.gone or self.abandoned:
            self.pipe.close()
        written, self.written = self.written, []
        for chunk in written:
            self._emit(chunk)
        for chunk in iterable:
            self._emit(chunk)
        if not self.head_sent:
            self._send_head()
        return None

    def _start_response(
        self,
        status: str,
        headers: list[tuple[str, str]],
        exc_info: OptExcInfo | None = None,
    ) -> Callable[[bytes], object]:
        if exc_info is not None:
            try:
                if self.head_sent:
                    raise exc_info[1].with_traceback(exc_info[2])  # type: ignore[union-attr]
            finally:
                exc_info = None  # no reference cycle through the traceback
        elif self.head is not None:
            raise RuntimeError("start_response was called twice without exc_info")
        self.head = parse_head(status, headers, self.method)
        return self._write

    def _write(self, data: bytes) -> None:
        """The `write` callable of PEP 3333, for apps written before iterables."""
        if self.streaming:
            self._emit(data)
        else:
            self.written.append(data)

    def _emit(self, chunk: bytes) -> None:
        if not self.head_sent:
            self._send_head()
        if self.remaining is not None:  # gunicorn's rule: never more than the declared length
            chunk = chunk[: self.remaining]
            self.remaining -= len(chunk)
        if chunk and self.pipe is not None:
            self.pipe.put(chunk)

    def _send_head(self) -> None:
        head = self.head
        if head is None:
            raise RuntimeError("the WSGI application produced a body before calling start_response")
        self.head_sent = True
        self.remaining = head.length if head.has_body else 0
        self._answer(Streamed(head))

    def _answer(self, answer: Buffered | Streamed | BaseException) -> None:
        self.loop.call_soon_threadsafe(_settle, self.outcome, answer)


def _settle(
    outcome: asyncio.Future[Buffered | Streamed], answer: Buffered | Streamed | BaseException
) -> None:
    if outcome.done():  # the request was cancelled meanwhile
        return
    if isinstance(answer, BaseException):
        outcome.set_exception(answer)
    else:
        outcome.set_result(answer)


def _as_error(exc: BaseException) -> BaseException:
    """What the loop re-raises: an `Exception`, since asyncio handles others specially."""
    if isinstance(exc, Exception):
        return exc
    error = RuntimeError(f"the WSGI application raised {exc!r}")
    error.__cause__ = exc
    return error


def _close(iterable: Iterable[bytes]) -> None:
    close = getattr(iterable, "close", None)
    if close is None:
        return
    try:
        close()
    except Exception:
        # The response was produced whole (or had already failed): log, as gunicorn does.
        logger.exception("close() on the WSGI response failed")


async def _send_overloaded(send: Send) -> None:
    retry_after = str(RETRY_AFTER_SECONDS).encode("ascii")
    await send_json(send, 503, _OVERLOADED, [(b"retry-after", retry_after)])
