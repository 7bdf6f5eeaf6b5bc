"""The bridge under `gateway serve`, spoken to over HTTP: streams, disconnects, overload,
hung calls and slow uploads.

Calls that must block wait at a `Gate` the test opens (see bridge_apps.py), so the tests know
when a view runs and decide when it ends.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType

import httpx
import pytest

from tests.gateway.test_server import metric
from tests.helpdesk import app_env, seed_database
from tests.servers import ServerProcess, run_gateway
from tests.waiting import wait_for

BRIDGE_APPS = "tests.gateway.wsgi.bridge_apps:app"
QUIET = {"GATEWAY_WATCH_ROUTES": "false", "GATEWAY_ACCESS_LOG": "false"}


@pytest.fixture(scope="module")
def routes_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("routes") / "routes.yaml"
    path.write_text("default: legacy\nroutes: []\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def gateway(routes_file: Path) -> Iterator[ServerProcess]:
    with run_gateway(routes_file, legacy_app=BRIDGE_APPS, env=QUIET) as server:
        yield server


class Gate:
    """A socket the gated views connect to and wait on, until the test opens the gate."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.05)
        self.port: int = self._server.getsockname()[1]
        self._arrived = threading.Condition()
        self._waiting: list[socket.socket] = []
        self.arrivals = 0
        self._open = False
        self._closed = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def wait_for(self, arrivals: int, timeout: float = 30.0) -> None:
        """Until `arrivals` views in all reached the gate."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: self.arrivals >= arrivals, timeout):
                raise AssertionError(f"{self.arrivals} views reached the gate, not {arrivals}")

    def open(self) -> None:
        """Let the waiting views go, and the later ones pass at once."""
        with self._arrived:
            self._open = True
            for connection in self._waiting:
                connection.close()
            self._waiting.clear()

    def __enter__(self) -> Gate:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.open()
        self._closed = True
        self._thread.join(5)
        self._server.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                connection, _ = self._server.accept()
            except TimeoutError:
                continue
            with self._arrived:
                self.arrivals += 1
                if self._open:
                    connection.close()
                else:
                    self._waiting.append(connection)
                self._arrived.notify_all()


def open_stream(port: int, target: bytes, headers: bytes = b"") -> socket.socket:
    """A raw connection that has read the head and first event of a stream, then is left."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: test\r\n" + headers + b"\r\n")
    received = b""
    while b"data:" not in received:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"stream closed before its first event: {received!r}")
        received += chunk
    return sock


def in_progress(server: ServerProcess) -> float:
    return metric(server, "gateway_requests_in_progress", side="legacy")


def abandon(sock: socket.socket) -> None:
    # RST rather than FIN, as a client killed mid-stream would; either must free the thread.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()


def test_abandoned_streams_are_closed_and_free_their_threads(gateway: ServerProcess) -> None:
    def stats() -> dict[str, int]:
        return dict(httpx.get(gateway.base_url + "/stats", timeout=10).json())

    before = stats()
    for _ in range(30):
        abandon(open_stream(gateway.port, b"/endless"))
    # close() ran for each: stream_with_context let go.
    wait_for(lambda: stats()["closed"] - before["closed"] == 30)
    assert stats()["opened"] - before["opened"] == 30
    wait_for(lambda: in_progress(gateway) == 0)


def test_an_error_after_the_response_started_closes_the_connection(
    gateway: ServerProcess,
) -> None:
    with httpx.stream("GET", gateway.base_url + "/fail-mid-stream", timeout=10) as response:
        assert response.status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            response.read()
    assert httpx.get(gateway.base_url + "/quick", timeout=10).status_code == 200


def test_fifty_abandoned_event_streams_leave_the_legacy_app_answering(
    routes_file: Path, tmp_path: Path
) -> None:
    """legacy_app's /api/stream/events sends an event every 0.5 s, forever.

    With a2wsgi each abandoned stream holds one of its threads for good: after as many streams
    as threads, the legacy side stops answering. The bridge stops each one at its next event.
    """
    env = {**app_env(seed_database(tmp_path / "helpdesk.db")), **QUIET}
    with run_gateway(
        routes_file, legacy_app="legacy_app.wsgi:app", env=env, health_path="/health"
    ) as server:
        for _ in range(50):
            abandon(open_stream(server.port, b"/api/stream/events", b"X-Token: admin-token\r\n"))
        # Answered at all (within a generous timeout): with a2wsgi it never was.
        assert httpx.get(server.base_url + "/health", timeout=5).status_code == 200
        api = httpx.get(server.base_url + "/api/me", headers={"X-Token": "admin-token"})
        assert api.status_code == 200


def test_beyond_threads_and_queue_legacy_requests_get_503(routes_file: Path) -> None:
    env = {**QUIET, "GATEWAY_WSGI_THREADS": "1", "GATEWAY_WSGI_QUEUE_LIMIT": "1"}
    with (
        run_gateway(routes_file, legacy_app=BRIDGE_APPS, env=env) as server,
        Gate() as gate,
        ThreadPoolExecutor(2) as clients,
    ):
        gated = f"{server.base_url}/gated?gate={gate.port}"
        busy = [clients.submit(httpx.get, gated, timeout=30) for _ in range(2)]
        gate.wait_for(1)  # one runs...
        wait_for(lambda: in_progress(server) == 2)  # ...and one waits for the thread
        refused = httpx.get(server.base_url + "/quick", timeout=10)
        gate.open()
        assert [answer.result().status_code for answer in busy] == [200, 200]
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        assert metric(server, "gateway_wsgi_rejected_total") == 1
        assert httpx.get(server.base_url + "/quick", timeout=10).status_code == 200


def test_hung_legacy_calls_answer_504_while_other_routes_keep_serving(routes_file: Path) -> None:
    """Four threads, eight calls that never return: each stuck thread is replaced."""
    env = {**QUIET, "GATEWAY_WSGI_THREADS": "4", "GATEWAY_WSGI_TIMEOUT": "1"}
    with (
        run_gateway(routes_file, legacy_app=BRIDGE_APPS, env=env) as server,
        Gate() as gate,
        ThreadPoolExecutor(4) as clients,
    ):
        gated = f"{server.base_url}/gated?gate={gate.port}"
        health = server.base_url + "/_gateway/health"
        for batch in (1, 2):
            assert httpx.get(health, timeout=10).status_code == 200
            hung = [clients.submit(httpx.get, gated, timeout=30) for _ in range(4)]
            gate.wait_for(4 * batch)  # all four run at once: a thread each
            answers = [answer.result() for answer in hung]
            assert [answer.status_code for answer in answers] == [504] * 4
            assert answers[0].json()["error"] == "timeout"
            assert metric(server, "gateway_wsgi_stuck_threads") == 4 * batch
            assert httpx.get(server.base_url + "/quick", timeout=10).status_code == 200
        assert metric(server, "gateway_wsgi_timeouts_total") == 8
        assert httpx.get(server.base_url + "/threads", timeout=10).json() == {"wsgi": 12}
        # Eight stuck, the cap (twice the threads): the next hung call would cost a thread.
        unhealthy = httpx.get(health, timeout=10)
        assert unhealthy.status_code == 503
        assert "8 WSGI threads are stuck" in unhealthy.json()["problems"][0]
        gate.open()
        wait_for(lambda: metric(server, "gateway_wsgi_stuck_threads") == 0)
        # The stuck threads returned and ended: the pool is back to its four.
        assert httpx.get(server.base_url + "/threads", timeout=10).json() == {"wsgi": 4}
        assert httpx.get(health, timeout=10).status_code == 200


def test_a_queued_request_whose_client_left_is_not_run(routes_file: Path) -> None:
    env = {**QUIET, "GATEWAY_WSGI_THREADS": "1"}
    with (
        run_gateway(routes_file, legacy_app=BRIDGE_APPS, env=env) as server,
        Gate() as gate,
        ThreadPoolExecutor(1) as clients,
    ):
        blocked = clients.submit(httpx.get, f"{server.base_url}/gated?gate={gate.port}", timeout=30)
        gate.wait_for(1)
        client = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        client.sendall(b"GET /counted HTTP/1.1\r\nHost: test\r\n\r\n")
        wait_for(lambda: in_progress(server) == 2)  # queued behind the blocked call
        abandon(client)
        wait_for(lambda: in_progress(server) == 1)  # the gateway saw the client leave
        gate.open()
        assert blocked.result().status_code == 200
        # One thread: /stats runs after the thread took (and skipped) the abandoned call.
        assert httpx.get(server.base_url + "/stats", timeout=10).json()["counted"] == 0
        assert httpx.get(server.base_url + "/counted", timeout=10).status_code == 200
        assert httpx.get(server.base_url + "/stats", timeout=10).json()["counted"] == 1


@pytest.mark.parametrize(
    "length", [pytest.param("4", id="content-length"), pytest.param(None, id="no-length")]
)
def test_a_slow_generator_streams_chunk_by_chunk(
    gateway: ServerProcess, length: str | None
) -> None:
    """httpbin's /drip: under gunicorn its first byte leaves at once, so it must here."""
    with Gate() as gate:
        url = f"{gateway.base_url}/drip?gate={gate.port}" + ("" if length else "&length=no")
        with httpx.stream("GET", url, timeout=10) as response:
            assert response.headers.get("content-length") == length
            chunks = response.iter_raw()
            first = next(chunks)  # the generator has not produced the rest: it waits at the gate
            gate.wait_for(1)
            gate.open()
            rest = b"".join(chunks)
    assert (first, rest) == (b"*", b"***")


def upload(port: int, declared: int, sent: bytes) -> socket.socket:
    """A POST /login declaring `declared` bytes of body, of which only `sent` is sent."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = (
        b"POST /login HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(declared).encode() + b"\r\n\r\n"
    )
    sock.sendall(head + sent)
    return sock


def test_slow_uploads_leave_the_legacy_app_answering(routes_file: Path, tmp_path: Path) -> None:
    """24 clients upload to the example app's POST /login, half a byte a second, half never.

    Their bodies are read on the event loop, not in the 16 WSGI threads, so GET /health (a
    legacy route too) is answered while all of them are in flight.
    """
    env = {**app_env(seed_database(tmp_path / "helpdesk.db")), **QUIET}
    with run_gateway(
        routes_file, legacy_app="legacy_app.wsgi:app", env=env, health_path="/health"
    ) as server:
        uploads = [upload(server.port, 100, b"{") for _ in range(24)]
        stop = threading.Event()

        def drip() -> None:
            while not stop.wait(0.5):
                for sock in uploads[:12]:
                    sock.sendall(b" ")

        dripping = threading.Thread(target=drip)
        dripping.start()
        try:
            wait_for(lambda: in_progress(server) == 24)
            started = time.monotonic()
            health = httpx.get(server.base_url + "/health", timeout=5)
            took = time.monotonic() - started
            assert health.status_code == 200
            assert in_progress(server) == 24, f"/health took {took:.3f} s"  # still in flight
        finally:
            stop.set()
            dripping.join()
            for sock in uploads:
                sock.close()


def read_response(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(65536):  # the gateway closes the connection after its refusal
        received += chunk
    return received


def test_bodies_too_slow_or_too_large_are_refused(routes_file: Path) -> None:
    env = {**QUIET, "GATEWAY_BODY_TIMEOUT": "0.5", "GATEWAY_MAX_BODY": "50"}
    with run_gateway(routes_file, legacy_app=BRIDGE_APPS, env=env) as server:
        with upload(server.port, 10, b"{") as stalled:
            assert read_response(stalled).startswith(b"HTTP/1.1 408 ")
        with upload(server.port, 51, b"") as large:
            assert read_response(large).startswith(b"HTTP/1.1 413 ")
        response = httpx.post(server.base_url + "/counted", content=b"x" * 51, timeout=10)
        assert response.status_code == 413
        assert response.json()["error"] == "body_too_large"
        assert httpx.get(server.base_url + "/stats", timeout=10).json()["counted"] == 0


def test_cpu_bound_calls_lower_the_concurrency_limit(routes_file: Path) -> None:
    """Adaptive concurrency (the default): the limit starts at GATEWAY_WSGI_THREADS and, for
    calls that only compute, comes down to where threads stop fighting for the GIL."""
    env = {**QUIET, "GATEWAY_WSGI_THREADS": "8"}
    with run_gateway(routes_file, legacy_app=BRIDGE_APPS, env=env) as server:
        limit = "gateway_wsgi_concurrency_limit"
        assert metric(server, limit) == 8
        stop = threading.Event()

        def load() -> None:
            with httpx.Client(base_url=server.base_url, timeout=30) as client:
                while not stop.is_set():
                    assert client.get("/cpu").status_code == 200

        with ThreadPoolExecutor(12) as clients:
            loads = [clients.submit(load) for _ in range(12)]
            try:
                wait_for(lambda: metric(server, limit) <= 4, timeout=60)
            finally:
                stop.set()
            for running in loads:
                running.result()


def test_a_request_that_waits_too_long_for_a_thread_gets_503(routes_file: Path) -> None:
    env = {**QUIET, "GATEWAY_WSGI_THREADS": "1", "GATEWAY_WSGI_QUEUE_TIMEOUT": "0.5"}
    with (
        run_gateway(routes_file, legacy_app=BRIDGE_APPS, env=env) as server,
        Gate() as gate,
        ThreadPoolExecutor(1) as clients,
    ):
        busy = clients.submit(httpx.get, f"{server.base_url}/gated?gate={gate.port}", timeout=30)
        gate.wait_for(1)  # the only thread is taken until the gate opens
        waited = httpx.get(server.base_url + "/counted", timeout=30)
        gate.open()
        assert busy.result().status_code == 200
        assert waited.status_code == 503
        assert waited.headers["retry-after"] == "1"
        assert waited.json()["error"] == "overloaded"
        assert "no legacy thread was free within 0.5 s" in waited.json()["detail"]
        assert metric(server, "gateway_wsgi_queue_timeouts_total") == 1
        assert metric(server, "gateway_wsgi_rejected_total") == 0
        stats = httpx.get(server.base_url + "/stats", timeout=10).json()
        assert stats["counted"] == 0  # refused, never run


def test_the_admin_api_and_dashboard_show_the_limit_of_every_worker(routes_file: Path) -> None:
    env = {**QUIET, "GATEWAY_ADMIN_TOKEN": "secret", "GATEWAY_WSGI_THREADS": "6"}
    with run_gateway(routes_file, legacy_app=BRIDGE_APPS, env=env, workers=2) as server:
        url = server.base_url + "/_gateway/api/wsgi"
        assert httpx.get(url, timeout=10).status_code == 401
        for _ in range(3):  # whichever worker answers, both are summed
            answer = httpx.get(url, headers={"Authorization": "Bearer secret"}, timeout=10)
            assert answer.json() == {"concurrency_limit": 12}
        page = httpx.get(server.base_url + "/_gateway/", timeout=10).text
        assert '<script src="/_gateway/assets/wsgi-limit.js"></script>' in page
        script = httpx.get(server.base_url + "/_gateway/assets/wsgi-limit.js", timeout=10)
        assert script.headers["content-type"].startswith("text/javascript")
        assert "/_gateway/api/wsgi" in script.text
