"""`gateway serve` stopped by an orchestrator: readiness fails first, serving stops later.

On SIGTERM the health endpoint answers 503 at once while the server keeps serving for
GATEWAY_DRAIN_SECONDS; then uvicorn's graceful shutdown lets requests in flight finish.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.servers import ServerProcess, run_gateway
from tests.waiting import wait_for

ROUTES = """\
default: legacy
routes:
  - path: /api/items/{item_id}
    target: new
  - path: /hold
    target: new
"""


@pytest.fixture
def routes_file(tmp_path: Path) -> Path:
    path = tmp_path / "routes.yaml"
    path.write_text(ROUTES, encoding="utf-8")
    return path


def health(server: ServerProcess) -> int:
    # A new connection each time, as a kubelet's probe makes.
    return httpx.get(server.base_url + "/_gateway/health", timeout=10).status_code


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_fails_readiness_at_once_and_keeps_serving_through_the_drain(
    routes_file: Path, workers: int
) -> None:
    # A drain far longer than the test needs, so "still serving" cannot race its end on a
    # loaded machine; SIGINT then ends it, as a second signal does.
    env = {"GATEWAY_DRAIN_SECONDS": "120"}
    with run_gateway(routes_file, workers=workers, env=env) as server, server.client() as kept:
        # Every worker up: one signalled while it boots just ends, without a drain.
        wait_for(lambda: server.log().count("Application startup complete") == workers)
        assert health(server) == 200
        assert "connection" not in kept.get("/api/items/3").headers  # kept alive
        server.process.send_signal(signal.SIGTERM)
        wait_for(lambda: health(server) == 503)
        # A kept-alive connection is closed after its next answer, so its client reconnects
        # (to another pod, once the endpoints are updated) instead of using it to the end.
        assert kept.get("/api/items/3").headers["connection"] == "close"
        answer = httpx.get(server.base_url + "/_gateway/health", timeout=10).json()
        assert answer["problems"][0].startswith("draining")
        for _ in range(2 * workers):  # new connections: each worker is still accepting
            assert httpx.get(server.base_url + "/api/items/3", timeout=10).status_code == 200
        assert server.process.poll() is None
        server.process.send_signal(signal.SIGINT)
        assert server.process.wait(60) == 0
        assert "readiness answers 503; serving 120 s more" in server.log()
        # Each worker stopped by itself, as one process does, and was not killed.
        assert server.log().count("Finished server process") == workers


@pytest.mark.parametrize("workers", [1, 2])
def test_after_the_drain_the_server_stops_by_itself_and_requests_in_flight_finish(
    routes_file: Path, workers: int
) -> None:
    drain = 1.0
    result: dict[str, str] = {}
    started = threading.Event()

    env = {"GATEWAY_DRAIN_SECONDS": str(drain)}
    with run_gateway(routes_file, workers=workers, env=env) as server:

        def held() -> None:
            # Streams its first line at once, its last after `seconds`.
            url = server.base_url + f"/hold?seconds={drain + 2}"
            with httpx.stream("GET", url, timeout=60) as response:
                lines = response.iter_lines()
                result["first"] = next(lines)
                started.set()
                result["rest"] = "".join(lines)

        thread = threading.Thread(target=held)
        thread.start()
        assert started.wait(30)
        sent = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(60) == 0
        stopped = time.monotonic() - sent
        thread.join(30)
        log = server.log()
    assert not thread.is_alive()
    assert result["rest"] == "done"  # the request in flight got its whole answer
    assert stopped >= drain  # a lower bound only: the drain was waited for
    assert log.index("readiness answers 503") < log.index("Shutting down")


@pytest.mark.parametrize("workers", [1, 2])
def test_a_second_sigterm_ends_the_drain(routes_file: Path, workers: int) -> None:
    # An impatient supervisor signals again: the drain ends and the graceful stop begins, with
    # --workers too (gunicorn's arbiter otherwise swallows a SIGTERM while its workers stop).
    env = {"GATEWAY_DRAIN_SECONDS": "120"}
    with run_gateway(routes_file, workers=workers, env=env) as server:
        server.process.send_signal(signal.SIGTERM)
        wait_for(lambda: health(server) == 503)
        assert httpx.get(server.base_url + "/api/items/3", timeout=10).status_code == 200
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(60) == 0  # far less than the drain's 120 s


def test_sigint_stops_several_workers_at_once(routes_file: Path) -> None:
    # gunicorn's arbiter tells its workers to quit with SIGQUIT, which uvicorn's worker class
    # took without stopping: the arbiter then waited the whole graceful timeout (the drain
    # plus 30 s) and killed them.
    env = {"GATEWAY_DRAIN_SECONDS": "120"}
    with run_gateway(routes_file, workers=2, env=env) as server:
        wait_for(lambda: server.log().count("Application startup complete") == 2)
        server.process.send_signal(signal.SIGINT)
        assert server.process.wait(60) == 0  # the graceful timeout is 150 s
        assert "SIGKILL" not in server.log()
        assert server.log().count("Finished server process") == 2


def test_workers_replaced_on_sighup_stop_without_failing_the_pods_readiness(
    routes_file: Path,
) -> None:
    # SIGHUP makes gunicorn's arbiter start new workers and stop the old ones: the pod stays,
    # so the old ones must not answer the readiness probe 503 (nor linger for the drain).
    env = {"GATEWAY_DRAIN_SECONDS": "120"}
    with run_gateway(routes_file, workers=2, env=env) as server:
        wait_for(lambda: server.log().count("Application startup complete") == 2)
        server.process.send_signal(signal.SIGHUP)

        def old_workers_gone() -> bool:
            assert health(server) == 200
            return server.log().count("Finished server process") == 2

        wait_for(old_workers_gone, 60)
        assert "readiness answers 503" not in server.log()
        assert "was sent SIGINT" not in server.log()  # each stopped by itself
        assert httpx.get(server.base_url + "/api/items/3", timeout=10).status_code == 200
        server.process.send_signal(signal.SIGINT)  # ends the test without the drain
        assert server.process.wait(60) == 0
