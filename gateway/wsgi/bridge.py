"""`WSGIBridge`: the legacy WSGI app as a pure ASGI app, run in a bounded pool of threads.

Why not a2wsgi's `WSGIMiddleware` as it is (shared notes, field-notes.md): every response crosses
from the worker thread to the event loop at least three times (head, each chunk, end), which
halves throughput next to gunicorn; its queue of waiting calls has no bound; an abandoned
stream keeps its thread until the generator ends, if ever. What the bridge does instead:

- A response that is whole when its first chunk comes (what Werkzeug produces for every
  non-streamed response: one chunk holding the declared Content-Length) is collected in the
  worker thread: the app is called, its iterable read and closed there, and the loop receives
  the whole answer in one hop.
- Anything else streams through a bounded `ResponsePipe`, whatever its Content-Length (a length
  says how many bytes will come, not how soon): its head goes out with the first chunk, and
  the chunks that pile up while the loop is busy go out together.
- `close()` on the app's iterable is always called, in the worker thread, before the response
  ends: success, app error, or a client that left (the pipe then refuses the next chunk).
- A request body up to `body_buffer` bytes is read on the loop before the call takes a thread,
  so a slow client holds no thread; a larger one streams to the app. `body_limits` bound the
  wait for each piece and the size (408, 413).
- Requests admitted but not finished (running or waiting for a thread) are bounded by
  `threads + queue_limit`; beyond it `Refused(503)` is raised, with Retry-After, and the
  observer is told (the gateway counts it). A call whose client leaves while it waits for
  a thread is not run.
- A call that waited `queue_timeout` seconds for a thread without getting one is answered 503,
  as the queue-full refusal is (HAProxy's `timeout queue`): under overload a request is told
  to retry rather than left to wait out its client's patience. It is not run.
- With `adaptive=True`, how many threads run calls at once (`pool.limit`, at most `threads`)
  follows the app's behaviour (`GradientLimit`): few for CPU-bound calls, where extra threads
  only fight over the GIL, up to `threads` for calls that wait on I/O.
- A call that moves no data (reads no body, yields nothing) for `timeout` seconds is answered
  504, or its response cut if it had started. Its thread cannot be killed: it counts as stuck
  and is replaced (see `WorkerPool`); the bridge is `unhealthy` once too many are stuck.
- The gateway answers its own refusals: the bridge raises `Refused` before any response
  starts, and the caller renders it.
- The context (contextvars) of the request's task is copied into the worker thread.
"""

from __future__ import annotations

import asyncio
import contextvars
import io
import logging
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from starlette.types import Receive, Scope, Send

from gateway.http.body_limits import CLOSE
from gateway.http.responses import Refused
from gateway.wsgi.concurrency import GradientLimit
from gateway.wsgi.environ import build_environ
from gateway.wsgi.limits import BridgeLimits, BridgeObserver, Unobserved
from gateway.wsgi.pipe import ClientGone, ResponsePipe
from gateway.wsgi.pool import PoolClosed, WorkerPool
from gateway.wsgi.request_body import BodyRefused, RequestBody, read_ahead
from gateway.wsgi.response import ResponseHead, parse_head

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import WSGIApplication

logger = logging.getLogger("gateway.wsgi")

# Bytes in flight between the loop and a worker thread, each way, for one request.
STREAM_LIMIT = 256 * 1024
RETRY_AFTER_SECONDS = 1
# A call still waiting for a thread this long after it was admitted gets a task that notices its
# client leaving, so that it is not run for nobody. Not sooner: the task costs about 15 us, and
# under load most calls wait a little, while a client that gives up has waited seconds.
LISTEN_AFTER = 0.5


class ResponseCut(Exception):
    """Raised on the loop to end a response that had started: the server drops the connection."""


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
        limits: BridgeLimits | None = None,
        observer: BridgeObserver | None = None,
    ) -> None:
        limits = limits or BridgeLimits()
        self.app = app
        self.observer = observer or Unobserved()
        self.threads = threads = limits.threads
        self.queue_limit = queue_limit = limits.queue_limit
        self.buffer_limit = limits.buffer_limit
        self.timeout = timeout = limits.timeout
        self.queue_timeout = queue_timeout = limits.queue_timeout
        # How long a call may wait for a thread: past it, 503 (queue_timeout) or 504 (timeout).
        self.wait_limit = min(timeout, queue_timeout) if queue_timeout is not None else timeout
        self.first_check = min(LISTEN_AFTER, self.wait_limit)  # when a call is first looked at
        self.body_buffer = limits.body_buffer
        self.body_limits = limits.body_limits
        self.pool = WorkerPool(threads, max_stuck=limits.max_stuck, on_stuck=self.observer.stuck)
        self.limiter: GradientLimit | None = None
        if limits.adaptive:
            self.limiter = GradientLimit(threads, on_change=self._limit_changed)
            self.pool.set_limit(self.limiter.limit)
        self.observer.limit(self.limiter.settled if self.limiter is not None else threads)
        self._capacity = threads + queue_limit
        # Every call's first check, due `first_check` after it was admitted: the same delay for
        # all, so due times come in order and one timer, for the earliest, serves them all
        # (rather than a timer armed and cancelled per call). Weak: a finished call is not
        # kept alive until its check would have been due.
        self._first_checks: deque[tuple[float, weakref.ref[_Call]]] = deque()
        self._sweep: asyncio.TimerHandle | None = None
        self._sweep_loop: asyncio.AbstractEventLoop | None = None
        self._admitted = 0  # calls submitted and not finished (or stuck); guarded by the lock
        self._admitted_lock = threading.Lock()

    @property
    def admitted(self) -> int:
        """Calls running or waiting for a thread, stuck ones excepted."""
        return self._admitted

    @property
    def unhealthy(self) -> bool:
        """Stuck threads reached the cap: the next hung call takes a thread for good.

        A thread cannot be killed, so only a restart gives them back: a health check reads this.
        """
        return self.pool.at_cap

    def health_problem(self) -> str | None:
        """For the gateway's health endpoint: why this process should be restarted, or None."""
        if not self.unhealthy:
            return None
        return (
            f"{self.pool.stuck} WSGI threads are stuck in calls that timed out "
            f"(at most {self.pool.max_stuck} are replaced)"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1000})
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        receive = self.body_limits.guard(scope, receive)
        # On the loop, before the call takes a thread: a small body (the usual case) is then
        # whole at hand, and the worker thread never waits on the client for it.
        ahead = await read_ahead(receive, self.body_buffer)
        if ahead is None:
            return  # the client left before the request was complete
        if not self._admit():
            self.observer.rejected()
            raise _overloaded()
        call = _Call(self, asyncio.get_running_loop(), scope, receive, *ahead)
        try:
            self.pool.submit(partial(contextvars.copy_context().run, call.run))
        except PoolClosed:
            self._release()
            raise
        self._watch(call)
        try:
            await call.respond(send)
        finally:
            call.abandon()

    def _watch(self, call: _Call) -> None:
        """Have the call looked at `first_check` from now (see `_Call._check`)."""
        loop = call.loop
        if loop is not self._sweep_loop:  # a new event loop (tests run several): start afresh
            self._first_checks.clear()
            self._sweep, self._sweep_loop = None, loop
        due = loop.time() + self.first_check
        self._first_checks.append((due, weakref.ref(call)))
        if self._sweep is None:
            self._sweep = loop.call_at(due, self._sweep_due, loop)

    def _sweep_due(self, loop: asyncio.AbstractEventLoop) -> None:
        self._sweep = None
        if loop is not self._sweep_loop:
            return
        now = loop.time()
        checks = self._first_checks
        while checks and checks[0][0] <= now:
            call = checks.popleft()[1]()
            if call is not None:
                call._check()
        if checks:
            self._sweep = loop.call_at(checks[0][0], self._sweep_due, loop)

    def _admit(self) -> bool:
        with self._admitted_lock:
            # Stuck threads beyond the cap were not replaced: the capacity shrinks with them.
            if self._admitted >= self._capacity - self.pool.lost:
                return False
            self._admitted += 1
            return True

    def _release(self) -> None:
        with self._admitted_lock:
            self._admitted -= 1

    def _limit_changed(self, limit: int) -> None:
        self.pool.set_limit(limit)
        if self.limiter is not None:
            self.observer.limit(self.limiter.settled)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        self.pool.shutdown()
        await send({"type": "lifespan.shutdown.complete"})


class _Call:
    """One request's WSGI call: run in a worker thread (`run`), answered on the loop (`respond`).

    Both sides share this object. Each attribute is written by one side only, except the pipe
    and the request body, which lock, and the call's fate (started, finished, abandoned, stuck),
    decided under `lock` so that a call is never both run and given up, nor a thread marked
    stuck after its call returned.
    """

    def __init__(
        self,
        bridge: WSGIBridge,
        loop: asyncio.AbstractEventLoop,
        scope: Scope,
        receive: Receive,
        body: bytes,
        more_body: bool,
    ) -> None:
        self.bridge = bridge
        self.app = bridge.app
        self.loop = loop
        self.receive = receive
        self.method: str = scope["method"]
        # None: the client left before the call ran, there is nothing to answer.
        self.outcome: asyncio.Future[Buffered | Streamed | None] = loop.create_future()
        # Made by the worker thread if the response streams, before the loop learns it does.
        self.pipe: ResponsePipe | None = None
        self.gone = False  # the client disconnected
        self.body: RequestBody | None = None
        stream: Any = io.BytesIO(body)
        if more_body:
            pool = bridge.pool
            stream = self.body = RequestBody(
                loop,
                receive,
                body,
                STREAM_LIMIT,
                self._progressed,
                aside=(pool.step_aside, pool.step_back),
            )
        self.environ = build_environ(scope, stream)
        self.listener: asyncio.Task[None] | None = None
        if self.body is not None:
            self.listener = loop.create_task(self._listen())
        self.timer: asyncio.TimerHandle | None = None
        self.admitted = time.monotonic()
        # The call's fate, under `lock`.
        self.lock = threading.Lock()
        self.started = False  # a thread took the call
        self.finished = False  # ... and is done with it
        self.abandoned = False  # the loop is done with it: a thread must not start it
        self.stuck = False  # it timed out running: its thread was marked stuck
        self.thread: threading.Thread | None = None
        self.progress = 0.0  # when the thread last moved data (time.monotonic)
        # Worker-thread state.
        self.head: ResponseHead | None = None
        self.head_sent = False
        self.streaming = False
        self.written: list[bytes] = []  # from write(), and the collected body when buffered
        self.collected = 0  # bytes in `written`
        self.remaining: int | None = None  # bytes still allowed by the declared Content-Length

    # --- event loop ---------------------------------------------------------------------------

    async def respond(self, send: Send) -> None:
        answer = await self.outcome
        if answer is None:
            return  # the client left while the call waited for a thread
        head = answer.head
        await send({"type": "http.response.start", "status": head.status, "headers": head.headers})
        if isinstance(answer, Buffered):
            # The thread answers this after close(): it is done with the app, nothing to watch.
            if self.timer is not None:
                self.timer.cancel()
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
        try:
            while True:
                message = await self.receive()
                if message["type"] == "http.disconnect":
                    break
                if self.body is not None:
                    await self.body.feed(message.get("body", b""), message.get("more_body", False))
        except Refused as refusal:  # a body limit: the app's read fails, the client is refused
            if self.body is not None:
                self.body.disconnect(BodyRefused(refusal.detail))
            self._fail(refusal)
            return
        self.gone = True  # set before reading self.pipe: the thread sets them the other way round
        with self.lock:
            waiting = not self.started
            self.abandoned = self.abandoned or waiting
        if waiting and not self.outcome.done():
            self.outcome.set_result(None)
        self._stop()

    def _check(self) -> None:
        """Is the call waiting for a thread, or overrunning? First by the bridge's sweep, then,
        while it runs on, by a timer of its own whenever it may overrun."""
        with self.lock:
            if self.finished or (self.abandoned and not self.started):
                return  # done, or never to run
            if self.started:
                left = self.progress + self.bridge.timeout - time.monotonic()
            else:
                left = self.admitted + self.bridge.wait_limit - time.monotonic()
            if left <= 0:
                if not self.started:
                    # It waited for a thread all along: say so to the limiter, even when the
                    # queue timeout is shorter than LISTEN_AFTER and `_waiting` never ran.
                    self._stalled()
                refusal = self._time_out()
            else:
                self.timer = self.loop.call_later(left, self._check)
                if not self.started:
                    self._waiting()
                return
        if refusal.status == 503:
            self.bridge.observer.queue_timed_out()
        else:
            self.bridge.observer.timed_out()
        self._fail(refusal)

    def _waiting(self) -> None:
        """The call still waits for a thread: listen for its client leaving; tell the limiter."""
        if self.listener is None:
            self.listener = self.loop.create_task(self._listen())
        self._stalled()

    def _stalled(self) -> None:
        limiter = self.bridge.limiter
        if limiter is not None:
            limiter.stalled(time.monotonic())

    def _time_out(self) -> Refused:
        """Under the lock: the call waited or ran too long. Returns the refusal for its client."""
        seconds = f"{self.bridge.timeout:g} s"
        if not self.started:
            self.abandoned = True  # a thread will skip it
            if self.bridge.wait_limit < self.bridge.timeout:
                waited = f"{self.bridge.wait_limit:g} s"
                return _overloaded(f"no legacy thread was free within {waited}; retry later")
            return Refused(
                504, "timeout", f"no legacy thread was free within {seconds}", side="legacy"
            )
        if self.body is not None and self.body.waiting:
            detail = f"no part of the request body arrived for {seconds}"
            refusal = Refused(408, "body_timeout", detail, headers=[CLOSE])
        elif self.pipe is not None and self.pipe.waiting:
            refusal = Refused(504, "timeout", f"the client took nothing for {seconds}")
        else:
            # The app itself hangs; its thread is lost until the call returns, if ever. Its
            # admission is given back now: a new thread takes its place.
            self.stuck = True
            if self.thread is not None:
                self.bridge.pool.mark_stuck(self.thread)
            self.bridge._release()
            detail = f"the legacy application produced nothing for {seconds}"
            return Refused(504, "timeout", detail, side="legacy")
        # Waiting on the client: failing the call frees the thread at once. If it then hangs
        # in the app (in close(), say), the next check finds it stuck.
        self.progress = time.monotonic()
        self.timer = self.loop.call_later(self.bridge.timeout, self._check)
        return refusal

    def _fail(self, refusal: Refused) -> None:
        """Have `refusal` answered if nothing was sent yet; else cut the response."""
        if not self.outcome.done():
            self.outcome.set_exception(refusal)
        elif self.pipe is not None:
            self.pipe.close(ResponseCut(refusal.detail))

    def abandon(self) -> None:
        """The response is over (or failed, or was cancelled): release the worker thread."""
        # Without the lock: this runs for every request, and a race costs nothing worse than
        # a call run for nobody (it started as this was set) or one more check of a finished
        # call. The decisions that matter (run or not, stuck or not) are made under the lock.
        self.abandoned = True
        running = self.started and not self.finished
        if self.listener is not None:
            self.listener.cancel()
        self._stop()
        # A call still running stays watched: it may hang after its client was answered.
        if not running and self.timer is not None:
            self.timer.cancel()

    def _stop(self) -> None:
        if self.pipe is not None:
            self.pipe.close()
        if self.body is not None:
            self.body.disconnect()

    # --- worker thread ------------------------------------------------------------------------

    def run(self) -> None:
        with self.lock:
            wanted = not self.abandoned  # still wanted after waiting in the queue
            self.started = True
            self.thread = threading.current_thread()
            self.progress = began = time.monotonic()
        try:
            if wanted:
                self._run()
        finally:
            with self.lock:
                self.finished = True
                stuck = self.stuck
            if not stuck:  # a stuck call gave its admission back when it was marked
                self._sample(wanted, began)
                self.bridge._release()

    def _sample(self, ran: bool, began: float) -> None:
        """Time the call for the concurrency controller, if what it took is the app's doing."""
        limiter = self.bridge.limiter
        # A streamed body or response waited on the client too: its duration says nothing of
        # how the app's calls slow down as more run.
        if limiter is not None and ran and self.body is None and not self.streaming:
            limiter.record(began, time.monotonic(), self.bridge.admitted)

    def _progressed(self) -> None:
        self.progress = time.monotonic()

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
        chunks = iter(iterable)
        for chunk in chunks:
            self.progress = time.monotonic()
            self.written.append(chunk)
            self.collected += len(chunk)
            if not self._whole():
                self._stream(chunks)
                return None
        return self._buffered()

    def _whole(self) -> bool:
        """Whether the chunks collected make the whole response: it then goes out in one piece.

        Only a body complete at hand qualifies: a generator may take its time between chunks
        even with a Content-Length, and its first chunk must not wait for the last.
        """
        head = self.head
        if head is None:
            return False
        if not head.has_body:
            return True
        length = head.length
        limit = self.bridge.buffer_limit
        return length is not None and length <= limit and self.collected >= length

    def _buffered(self) -> Buffered:
        head = self.head
        if head is None:
            raise RuntimeError("the WSGI response ended without a head")
        body = b"".join(self.written) if head.has_body else b""
        return Buffered(head, body if head.length is None else body[: head.length])

    def _stream(self, chunks: Iterator[bytes]) -> None:
        """Hand each chunk over as it comes; the first one (already collected) sends the head."""
        self.streaming = True
        self.pipe = ResponsePipe(self.loop, STREAM_LIMIT)
        if self.gone or self.abandoned:
            self.pipe.close()
        written, self.written = self.written, []
        pool = self.bridge.pool
        pool.step_aside()  # a stream waits on its client: another thread may take work
        try:
            for chunk in written:
                self._emit(chunk)
            for chunk in chunks:
                self.progress = time.monotonic()
                self._emit(chunk)
        finally:
            pool.step_back()

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
        self.progress = time.monotonic()
        if self.streaming:
            self._emit(data)
        else:
            self.written.append(data)
            self.collected += len(data)

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
    outcome: asyncio.Future[Buffered | Streamed | None],
    answer: Buffered | Streamed | BaseException,
) -> None:
    if outcome.done():  # the request was cancelled, timed out or refused meanwhile
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


def _overloaded(detail: str = "the legacy application is at capacity; retry later") -> Refused:
    return Refused(
        503,
        "overloaded",
        detail,
        headers=[(b"retry-after", str(RETRY_AFTER_SECONDS).encode("ascii"))],
        side="legacy",
    )
