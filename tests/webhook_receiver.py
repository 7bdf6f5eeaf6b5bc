"""A webhook receiver for the notification tests: it keeps each JSON body it is posted, and
can answer a few posts with an error first (to be retried)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Hooks:
    bodies: list[dict[str, Any]] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)  # statuses to answer before accepting
    posts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def events(self) -> list[str]:
        with self.lock:
            return [str(body.get("event")) for body in self.bodies]

    def of(self, event: str) -> list[dict[str, Any]]:
        with self.lock:
            return [body for body in self.bodies if body.get("event") == event]


def _handler(hooks: Hooks) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with hooks.lock:
                hooks.posts += 1
                status = hooks.failures.pop(0) if hooks.failures else 200
                if status == 200:
                    hooks.bodies.append(json.loads(body))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextmanager
def webhook_receiver() -> Iterator[tuple[str, Hooks]]:
    """The receiver's URL, with a secret-looking path, and what it was posted."""
    hooks = Hooks()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hooks))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/T0KEN-SECRET", hooks
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
