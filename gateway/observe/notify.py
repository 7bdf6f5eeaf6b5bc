"""Notifications: what a rollout did and why, posted to webhooks (GATEWAY_NOTIFY_URL).

A sink like the logs: it is told a `Notice` and sends it in the background. `notify` never
blocks and never raises: the notices wait in a bounded queue for one thread that posts them,
retries a failed post with growing pauses (a bounded number of times), and drops what does
not fit, counting it. A request or a controller pass never waits for a webhook.

A Slack incoming webhook (hooks.slack.com) gets Slack's message format; any other URL gets
the notice as a JSON object. A webhook URL is a secret (Slack's holds its token in its path):
the log shows its scheme and host only, with any password masked.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import os
import queue
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from gateway.http.urls import masked
from gateway.observe.access_log import log_time

logger = logging.getLogger("gateway.notify")

SLACK_HOSTS = ("hooks.slack.com",)
QUEUE_SIZE = 256  # notices waiting to be sent (retries included), at most; more are dropped
ATTEMPTS = 5  # posts of one notice to one URL, at most
FIRST_PAUSE = 1.0  # seconds before the first retry; each next pause doubles, up to MAX_PAUSE
MAX_PAUSE = 60.0
POST_TIMEOUT = 10.0

Figures = dict[str, float | int | str | None]


@dataclass(frozen=True, slots=True)
class Notice:
    """One thing worth telling a person: what happened to which route, what decided, the figures."""

    event: str  # rollout_started, rollout_step, awaiting_approval, paused, resumed, ...
    route: str
    summary: str  # one line, for people
    reason: str
    gate: str | None = None  # the gate or guard that decided
    methods: tuple[str, ...] | None = None
    figures: Figures = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. the step, the approve command
    time: str = field(default_factory=log_time)

    def as_json(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "route": self.route,
            "methods": list(self.methods) if self.methods else None,
            "summary": self.summary,
            "reason": self.reason,
            "gate": self.gate,
            "figures": self.figures,
            **self.extra,
            "time": self.time,
        }


def is_slack(url: str) -> bool:
    return (urllib.parse.urlsplit(url).hostname or "").lower() in SLACK_HOSTS


def shown(url: str) -> str:
    """A webhook URL as the log shows it: scheme and host; the path may be the token."""
    parts = urllib.parse.urlsplit(url)
    host = parts.netloc.rpartition("@")[2]  # no user or password either
    return masked(f"{parts.scheme}://{host}/...") if host else "a webhook URL"


def slack_body(notice: Notice) -> dict[str, Any]:
    """Slack's incoming-webhook format: a text line, and blocks for the reason and figures."""
    methods = f" {','.join(notice.methods)}" if notice.methods else ""
    text = f"*{notice.summary}*\n`{notice.route}`{methods}: {notice.reason}"
    if notice.gate:
        text += f" (decided by: {notice.gate})"
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    figures = [f"*{name}*: {_figure(value)}" for name, value in notice.figures.items()]
    if figures:
        blocks.append(
            {
                "type": "section",
                # Slack shows ten fields at most.
                "fields": [{"type": "mrkdwn", "text": line} for line in figures[:10]],
            }
        )
    for key in ("approve_command", "approve_api"):
        if key in notice.extra:
            blocks.append(
                {"type": "section", "text": {"type": "mrkdwn", "text": f"`{notice.extra[key]}`"}}
            )
    return {"text": f"{notice.summary}: {notice.reason}", "blocks": blocks}


def _figure(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def body_for(url: str, notice: Notice) -> bytes:
    return json.dumps(slack_body(notice) if is_slack(url) else notice.as_json()).encode()


class PostFailed(Exception):
    def __init__(self, why: str, retry: bool) -> None:
        super().__init__(why)
        self.retry = retry


def post(url: str, body: bytes, timeout: float = POST_TIMEOUT) -> None:
    """POST a JSON body; raises PostFailed (retry: whether trying again may help)."""
    request = urllib.request.Request(
        url,
        body,
        {"Content-Type": "application/json", "User-Agent": "gateway-notify"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            answer.read(64 * 1024)
    except urllib.error.HTTPError as exc:
        # A 4xx says the request itself is wrong (a revoked webhook, say): sending it again will
        # not help, except where it asks to (408, 429).
        raise PostFailed(f"HTTP {exc.code}", exc.code >= 500 or exc.code in (408, 429)) from None
    except (OSError, ValueError) as exc:  # unreachable, timed out, refused, a bad URL
        raise PostFailed(type(exc).__name__, not isinstance(exc, ValueError)) from None


@dataclass(order=True, slots=True)
class _Delivery:
    due: float
    order: int
    url: str = field(compare=False)
    notice: Notice = field(compare=False)
    attempt: int = field(default=1, compare=False)


Post = Callable[[str, bytes], None]


class Notifier:
    def __init__(
        self,
        urls: Iterable[str],
        *,
        send: Post = post,
        queue_size: int = QUEUE_SIZE,
        attempts: int = ATTEMPTS,
        first_pause: float = FIRST_PAUSE,
        on_dropped: Callable[[], None] | None = None,
    ) -> None:
        self.urls = tuple(url.strip() for url in urls if url.strip())
        self.send = send
        self.attempts = attempts
        self.first_pause = first_pause
        self.on_dropped = on_dropped
        self._queue: queue.Queue[_Delivery | None] = queue.Queue(queue_size)
        self._waiting: list[_Delivery] = []  # retries, by when they are due
        self._order = itertools.count()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._busy = 0  # deliveries queued or waiting for a retry

    @classmethod
    def from_setting(cls, value: str | None) -> Notifier | None:
        """The notifier GATEWAY_NOTIFY_URL asks for (comma-separated URLs); None: no URL."""
        urls = [url for url in (value or "").split(",") if url.strip()]
        return cls(urls) if urls else None

    def notify(self, notice: Notice) -> None:
        """Send `notice` to every URL, in the background; never blocks, never raises."""
        for url in self.urls:
            self._put(_Delivery(time.monotonic(), next(self._order), url, notice))

    def _put(self, delivery: _Delivery) -> None:
        self._started()
        try:
            self._queue.put_nowait(delivery)
        except queue.Full:
            logger.warning(
                json.dumps(
                    {
                        "event": "notify_dropped",
                        "notice": delivery.notice.event,
                        "url": shown(delivery.url),
                        "why": "queue full",
                    }
                )
            )
            if self.on_dropped is not None:
                self.on_dropped()
            return
        with self._lock:
            self._busy += 1

    def _started(self) -> None:
        # Started on first use, and again in a forked process (a thread is not copied by fork).
        with self._lock:
            if self._thread is not None and self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="gateway-notify", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            timeout = None
            if self._waiting:
                timeout = max(0.0, self._waiting[0].due - time.monotonic())
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = heapq.heappop(self._waiting)
            if item is None:
                return
            if item.due > time.monotonic():  # a retry not due yet: wait for its turn
                heapq.heappush(self._waiting, item)
                continue
            self._deliver(item)

    def _deliver(self, delivery: _Delivery) -> None:
        try:
            self.send(delivery.url, body_for(delivery.url, delivery.notice))
        except Exception as exc:
            retry = isinstance(exc, PostFailed) and exc.retry and delivery.attempt < self.attempts
            logger.warning(
                json.dumps(
                    {
                        "event": "notify_failed",
                        "notice": delivery.notice.event,
                        "route": delivery.notice.route,
                        "url": shown(delivery.url),
                        "attempt": delivery.attempt,
                        "error": str(exc) if isinstance(exc, PostFailed) else type(exc).__name__,
                        "retry": retry,
                    }
                )
            )
            if retry:
                pause = min(MAX_PAUSE, self.first_pause * 2 ** (delivery.attempt - 1))
                delivery.due = time.monotonic() + pause
                delivery.attempt += 1
                heapq.heappush(self._waiting, delivery)
                return
        with self._lock:
            self._busy -= 1

    def idle(self) -> bool:
        """Whether every notice given so far was sent or given up."""
        with self._lock:
            return self._busy == 0

    def close(self, timeout: float = 5.0) -> None:
        """Wait up to `timeout` seconds for the notices in flight, then stop the thread."""
        deadline = time.monotonic() + timeout
        while not self.idle() and time.monotonic() < deadline:
            time.sleep(0.05)
        thread = self._thread
        if thread is not None and thread.is_alive() and self._pid == os.getpid():
            try:
                self._queue.put_nowait(None)
            except queue.Full:
                return  # a daemon thread: it ends with the process
            thread.join(max(0.0, deadline - time.monotonic()) + 0.1)
