"""A loopback HTTP stand-in for the few Kubernetes API endpoints the rollout adapter calls.

Where tests/deploy/fake_kubernetes.py replaces the client's API objects, this replaces the
API server, so the official client itself runs: its URLs, its JSON, its PATCH content type,
its date format, its mapping of 404 and 409 to ApiException. It serves one namespace's
ConfigMaps (GET, PATCH as a merge of `data`, with `metadata.resourceVersion` as a
precondition) and Leases (GET, POST, PUT with the same precondition), and records each
request. Everything else is 404. Not an API server: no auth, no validation beyond that.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_CONFIG_MAP = re.compile(r"^/api/v1/namespaces/([^/]+)/configmaps/([^/]+)$")
_LEASES = re.compile(r"^/apis/coordination\.k8s\.io/v1/namespaces/([^/]+)/leases(?:/([^/]+))?$")


@dataclass
class Recorded:
    method: str
    path: str
    content_type: str
    body: Any


@dataclass
class State:
    objects: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    revision: int = 500
    lock: threading.Lock = field(default_factory=threading.Lock)

    def stamp(self, document: dict[str, Any]) -> dict[str, Any]:
        self.revision += 1
        document.setdefault("metadata", {})["resourceVersion"] = str(self.revision)
        return document


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the tests read `requests` instead

    def do_GET(self) -> None:
        self._handle("GET")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        state = self.server.state
        with state.lock:
            state.requests.append(
                Recorded(method, self.path, self.headers.get("Content-Type", ""), body)
            )
            status, answer = self._answer(state, method, body)
        payload = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _answer(self, state: State, method: str, body: Any) -> tuple[int, dict[str, Any]]:
        if match := _CONFIG_MAP.match(self.path):
            key = ("ConfigMap", match.group(1), match.group(2))
            if method == "PATCH":
                return _patch(state, key, body)
            return _get(state, key)
        if match := _LEASES.match(self.path):
            namespace, name = match.groups()
            if method == "POST" and name is None:
                return _create(state, ("Lease", namespace, body["metadata"]["name"]), body)
            if name is not None:
                key = ("Lease", namespace, name)
                return _replace(state, key, body) if method == "PUT" else _get(state, key)
        return _status(404, "NotFound", self.path)


def _status(code: int, reason: str, message: str) -> tuple[int, dict[str, Any]]:
    return code, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                  "reason": reason, "message": message, "code": code}  # fmt: skip


def _get(state: State, key: tuple[str, str, str]) -> tuple[int, dict[str, Any]]:
    if key not in state.objects:
        return _status(404, "NotFound", f"{key[0]} {key[2]} not found")
    return 200, state.objects[key]


def _conflict(stored: dict[str, Any], body: dict[str, Any]) -> bool:
    wanted = (body.get("metadata") or {}).get("resourceVersion")
    return wanted is not None and wanted != stored["metadata"]["resourceVersion"]


def _patch(state: State, key: tuple[str, str, str], body: Any) -> tuple[int, dict[str, Any]]:
    if key not in state.objects:
        return _status(404, "NotFound", f"configmap {key[2]} not found")
    stored = state.objects[key]
    if not isinstance(body, dict):
        return _status(400, "BadRequest", "this fake takes object patches only")
    if _conflict(stored, body):
        return _status(409, "Conflict", "the object has been modified")
    stored["data"] = {**(stored.get("data") or {}), **(body.get("data") or {})}
    return 200, state.stamp(stored)


def _create(state: State, key: tuple[str, str, str], body: Any) -> tuple[int, dict[str, Any]]:
    if key in state.objects:
        return _status(409, "AlreadyExists", f"lease {key[2]} already exists")
    state.objects[key] = state.stamp(body)
    return 201, body


def _replace(state: State, key: tuple[str, str, str], body: Any) -> tuple[int, dict[str, Any]]:
    if key not in state.objects:
        return _status(404, "NotFound", f"lease {key[2]} not found")
    if _conflict(state.objects[key], body):
        return _status(409, "Conflict", "the object has been modified")
    state.objects[key] = state.stamp(body)
    return 200, body


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: State) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state


@contextmanager
def fake_apiserver(state: State) -> Iterator[str]:
    """Serve `state` on a loopback port; yields the base URL; stops its thread at the end."""
    server = _Server(state)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-apiserver"
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
