"""The controller reading gateways' `/metrics` as `gateway rollout run --metrics A --metrics B`
does: pages served over real HTTP stand in for the gateways, so that one can restart at a chosen
moment (its counters go down) or answer what no gateway would."""

from __future__ import annotations

import base64
import datetime
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gateway.config.routes_yaml import load_yaml
from gateway.rollout import figures
from gateway.rollout.controller import Controller
from gateway.rollout.figures import FiguresError, MetricsSource, PrometheusSource
from gateway.rollout.file_lock import FileLock
from gateway.rollout.file_store import FileStore
from tests.gateway.rollout.fakes import FakeClock
from tests.gateway.rollout.test_fleet import FLEET_WAIT, prometheus_config, require_prometheus
from tests.servers import free_port, run_server
from tests.waiting import wait_for

ROUTES = """\
routes:
  - path: /r/x
    methods: [GET]
    target: canary
    weight: 0
    rollout: {steps: [10, 50], interval: 60, min_requests: 100, max_error_ratio: 0.05}
"""


BASIC = "Basic " + base64.b64encode(b"reader:s3cret").decode()


class MetricsPages:
    """Each path answers the text it was last given, as a gateway's `/metrics` would."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.startswith("/private") and self.headers["Authorization"] != BASIC:
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = pages.get(self.path, "").encode()
                self.send_response(200 if self.path in pages else 404)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="metrics-pages")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def counted(self, path: str, ok: int, errors: int = 0, weight: float | None = None) -> None:
        """The gateway at `path` has answered `ok` 200s and `errors` 500s on /r/x's new side,
        and serves it at `weight` (None: it does not say)."""
        series = 'gateway_requests_total{{method="GET",route="/r/x",side="new",status="{}"}} {}'
        shown = [] if weight is None else [f'gateway_canary_weight{{route="/r/x"}} {weight}']
        self.pages[path] = "\n".join(
            ["# TYPE gateway_requests_total counter", series.format(200, ok)]
            + ([series.format(500, errors)] if errors else [])
            + ["# TYPE gateway_canary_weight gauge", *shown, ""]
        )


@pytest.fixture
def pages() -> Iterator[MetricsPages]:
    served = MetricsPages()
    served.thread.start()
    try:
        yield served
    finally:
        served.server.shutdown()
        served.thread.join(10)
        served.server.server_close()


@pytest.mark.parametrize(
    ("before", "after"),
    [
        # Gateway A restarts and fails 30 of its 150 new requests; B, long running, adds 10.
        # The sum goes down, but B's history is not this step's traffic.
        pytest.param(((1000, 0), (10000, 0)), ((120, 30), (10010, 0)), id="sum-goes-down"),
        # A had errors before the step, restarts and fails 20 of 150; the sum of requests
        # still grows, but A's errors since its restart must not vanish behind its old ones.
        pytest.param(((50, 50), (1000, 0)), ((130, 20), (1050, 0)), id="errors-go-down"),
    ],
)
def test_a_restarted_gateway_counts_per_series(
    tmp_path: Path,
    pages: MetricsPages,
    before: tuple[tuple[int, int], tuple[int, int]],
    after: tuple[tuple[int, int], tuple[int, int]],
) -> None:
    routes_file = tmp_path / "routes.yaml"
    routes_file.write_text(ROUTES, encoding="utf-8")
    for path, (ok, errors) in zip(("/a", "/b"), before, strict=True):
        pages.counted(path, ok, errors)
    clock = FakeClock()
    source = MetricsSource([pages.url("/a"), pages.url("/b")])
    lock = FileLock(tmp_path / "lock")
    controller = Controller(FileStore(routes_file), lock, source, clock=clock)
    try:
        assert controller.run_once().result == "written"  # step 1 begins at `before`
        for path, (ok, errors) in zip(("/a", "/b"), after, strict=True):
            pages.counted(path, ok, errors)
        clock.advance(61)
        controller.run_once()
    finally:
        lock.release()
    entry = load_yaml(routes_file.read_text(encoding="utf-8")).data["routes"][0]
    status = entry["status"]
    assert (entry["target"], status["state"], status.get("gate")) == (
        "legacy",
        "aborted",
        "error_ratio",
    )
    # Every answer of A since its restart, B's increase, and A's errors since its restart.
    (a_ok, a_errors), (b_ok, _) = after
    assert status["figures"]["new_requests"] == a_ok + a_errors + b_ok - before[1][0]
    assert status["figures"]["new_errors"] == a_errors


@pytest.mark.parametrize("value", ["NaN", "+Inf", "-5"])
def test_counters_that_are_not_counts_are_no_figures(
    tmp_path: Path, pages: MetricsPages, value: str
) -> None:
    routes_file = tmp_path / "routes.yaml"
    routes_file.write_text(ROUTES, encoding="utf-8")
    pages.counted("/a", 1000)
    clock = FakeClock()
    lock = FileLock(tmp_path / "lock")
    controller = Controller(
        FileStore(routes_file), lock, MetricsSource([pages.url("/a")]), clock=clock
    )
    try:
        controller.run_once()
        pages.pages["/a"] = pages.pages["/a"].replace(" 1000", f" {value}")
        clock.advance(61)
        controller.run_once()
    finally:
        lock.release()
    status = load_yaml(routes_file.read_text(encoding="utf-8")).data["routes"][0]["status"]
    assert (status["step"], status["decision"], status["gate"]) == (1, "hold", "figures")
    assert status["reason"] == "no figures from the metrics source"


def test_credentials_in_a_url_are_sent_as_basic_auth_and_never_shown(pages: MetricsPages) -> None:
    pages.counted("/private/metrics", 7)
    address = pages.url("/private/metrics").removeprefix("http://")
    totals = MetricsSource([f"http://reader:s3cret@{address}"]).totals()
    assert totals.side("/r/x", "new", None).requests == 7
    wrong = MetricsSource([f"http://reader:wrong@{address}"])
    with pytest.raises(FiguresError, match="401") as refused:
        wrong.totals()
    down = PrometheusSource("http://reader:s3cret@127.0.0.1:9")
    with pytest.raises(FiguresError) as failed:
        down.totals()
    for shown in (str(refused.value), str(failed.value), wrong.name, down.name):
        assert "s3cret" not in shown and "wrong" not in shown
        assert "reader:***@" in shown


def test_a_url_that_does_not_answer_http_is_no_figures() -> None:
    # A port that answers something else than HTTP (a database, an SSH server).
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]

        def answer() -> None:
            connection, _ = server.accept()
            with connection:
                connection.recv(65536)
                connection.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")

        thread = threading.Thread(target=answer)
        thread.start()
        with pytest.raises(FiguresError, match=f"could not read http://127.0.0.1:{port}/metrics"):
            MetricsSource([f"http://127.0.0.1:{port}/metrics"]).totals()
        thread.join(10)


def test_an_answer_without_end_is_read_up_to_a_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(figures, "MAX_ANSWER_BYTES", 1 << 20)

    class Endless(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            try:
                while True:  # a metrics page that never ends
                    self.wfile.write(b"# padding " * 1000 + b"\n")
            except OSError:
                pass  # the reader stopped reading and closed

        def log_message(self, format: str, *args: object) -> None:
            pass

    with ThreadingHTTPServer(("127.0.0.1", 0), Endless) as server:
        thread = threading.Thread(target=server.serve_forever)
        thread.start()
        try:
            url = f"http://127.0.0.1:{server.server_address[1]}/metrics"
            with pytest.raises(FiguresError, match="answered more than 1 MiB"):
                MetricsSource([url]).totals()
        finally:
            server.shutdown()
            thread.join(10)


def test_no_step_is_taken_before_every_gateway_serves_the_current_one(
    tmp_path: Path, pages: MetricsPages
) -> None:
    # Gateways apply a written weight when they reload (a ConfigMap reaches pods a minute or
    # more later): the next step waits until every gateway serves this one.
    routes_file = tmp_path / "routes.yaml"
    routes_file.write_text(ROUTES.replace("[10, 50]", "[10, 50, 100]"), encoding="utf-8")
    pages.counted("/a", 0, weight=0)
    pages.counted("/b", 0, weight=0)
    clock = FakeClock()
    source = MetricsSource([pages.url("/a"), pages.url("/b")])
    lock = FileLock(tmp_path / "lock")
    controller = Controller(FileStore(routes_file), lock, source, clock=clock)

    def status() -> dict[str, object]:
        entry = load_yaml(routes_file.read_text(encoding="utf-8")).data["routes"][0]
        return {"weight": entry["weight"], **dict(entry["status"])}

    try:
        controller.run_once()  # to 10%
        pages.counted("/a", 200, weight=10)
        pages.counted("/b", 200, weight=0)  # has not reloaded yet
        clock.advance(61)
        controller.run_once()
        held = status()
        assert (held["weight"], held["decision"], held["gate"]) == (10, "hold", "applied")
        assert held["reason"] == "1 of 2 gateways serve weight 10% (waiting for the others)"
        pages.counted("/b", 10, weight=10)
        controller.run_once()
        assert (status()["weight"], status()["decision"]) == (50, "advance")
    finally:
        lock.release()


def test_prometheus_without_the_steps_start_counts_from_now(
    tmp_path: Path, pages: MetricsPages
) -> None:
    # A step that began before Prometheus kept anything (a new Prometheus, or a step older
    # than its retention): no baseline, rather than an empty one that makes every request the
    # gateway ever answered this step's.
    prometheus = require_prometheus()
    pages.counted("/metrics", 5000)
    port = free_port()
    target = pages.url("/metrics").removeprefix("http://").removesuffix("/metrics")
    argv = [
        prometheus,
        f"--config.file={prometheus_config([target], tmp_path)}",
        f"--storage.tsdb.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    routes_file = tmp_path / "routes.yaml"
    routes_file.write_text(
        ROUTES.replace("weight: 0", "weight: 10")
        + "    status: {state: stepping, step: 1, weight: 10, since: '2026-01-01T10:00:00Z',"
        " decision: start, reason: started}\n",
        encoding="utf-8",
    )
    source = PrometheusSource(f"http://127.0.0.1:{port}")
    with run_server(argv, port=port, health_path="/-/ready"):
        wait_for(
            lambda: source.totals().side("/r/x", "new", None).requests > 0, FLEET_WAIT, "a scrape"
        )
        lock = FileLock(tmp_path / "lock")
        clock = FakeClock(datetime.datetime.now(datetime.UTC))
        controller = Controller(FileStore(routes_file), lock, source, clock=clock)
        try:
            controller.run_once()
        finally:
            lock.release()
    entry = load_yaml(routes_file.read_text(encoding="utf-8")).data["routes"][0]
    assert (entry["weight"], entry["status"]["gate"]) == (10, "figures")
    assert "count from now" in entry["status"]["reason"]
