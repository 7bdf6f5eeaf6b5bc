"""Several worker processes under gunicorn's arbiter: `gateway serve --workers N`.

uvicorn's own `--workers` restarts nothing and has no hook when a worker dies, so a worker
killed by the kernel (OOM, SIGKILL) left its live gauges in the multiprocess metrics folder
for ever (`gateway_requests_in_progress` stuck at the requests it was serving). gunicorn's
arbiter, with uvicorn's worker class (the `uvicorn-worker` package, maintained by uvicorn's
authors), replaces a dead worker at once, calls `child_exit` in the arbiter (where
prometheus-client's `mark_process_dead` removes the dead worker's live gauges, so every
scrape describes live workers only), kills a worker whose event loop stops answering for
`timeout` seconds, and can recycle workers after `max_requests`.

Each worker builds its own gateway after the fork (`create_server_app`), as each worker of
uvicorn did.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import signal
import sys
from types import FrameType
from typing import Any

import gunicorn
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.config import make_settings as gunicorn_settings
from prometheus_client import multiprocess, values
from uvicorn_worker import UvicornWorker

from gateway.app import create_server_app
from gateway.control.draining import LAST_REQUEST_SECONDS, DrainingServer
from gateway.dispatcher import Gateway

logger = logging.getLogger("gateway")

GRACEFUL_SECONDS = 30  # after the drain, how long requests in flight may take to finish
# gunicorn 25.1+ serves a control socket (`gunicornc`: add, remove and kill workers, reload) at
# one path per user, $XDG_RUNTIME_DIR/gunicorn.ctl or ~/.gunicorn/gunicorn.ctl: two gateways on a
# host would take it from each other (each unlinks the path when it starts and when it stops),
# and it is a second way to manage the workers beside the admin API. The gateway turns it off.
NO_CONTROL_SOCKET = (
    {"control_socket_disable": True} if "control_socket_disable" in gunicorn_settings() else {}
)
# From 25.0 on, gunicorn's graceful stop hurries on SIGINT or SIGQUIT (the workers get SIGQUIT,
# then 2 s); before, it queued them unread until its graceful timeout had passed.
QUICK_SHUTDOWN = tuple(gunicorn.version_info) >= (25, 0)


class WorkerServer(DrainingServer):
    """A worker's server, which also stops (gracefully) once its arbiter is gone.

    gunicorn's own workers check their parent on every loop and leave when it changes;
    uvicorn's worker class does not, so a worker whose arbiter was killed (SIGKILL, the OOM
    killer) kept serving on the port, unsupervised, until killed by hand.
    """

    last_request_seconds = LAST_REQUEST_SECONDS  # other workers serve on: see shutdown

    def __init__(self, config: Any, *, parent_pid: int, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self.parent_pid = parent_pid

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGINT and not self.should_exit:
            # The arbiter's "you are replaced" (GatewayArbiter.kill_worker): stop, without
            # recording it, which would make uvicorn raise it again once stopped and end the
            # worker by SIGINT, a warning in the arbiter's log for every replaced worker.
            self.should_exit = True
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        # Ticks come every 0.1 s: the parent is looked at once a second.
        if counter % 10 == 0 and not self.should_exit and os.getppid() != self.parent_pid:
            logger.warning("the arbiter (pid %d) is gone: this worker stops", self.parent_pid)
            self.should_exit = True
        return await super().on_tick(counter)


class GatewayWorker(UvicornWorker):  # type: ignore[misc]
    """A uvicorn worker set up as `gateway serve` sets up its single process.

    Its root path and drain come from the Supervisor, which gunicorn hands every worker as
    `self.app`: gunicorn takes the worker class as an import string (before 21.0, only so).
    """

    CONFIG_KWARGS: dict[str, Any] = {
        "loop": "uvloop",
        "http": "httptools",  # with the head's limits: see __init__
        "lifespan": "on",
        "access_log": False,  # the gateway writes its own access log (GATEWAY_ACCESS_LOG)
        "timeout_graceful_shutdown": GRACEFUL_SECONDS,
        "proxy_headers": False,  # the gateway reads forwarded headers itself
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        supervisor: Supervisor = self.app
        self.config.root_path = supervisor.root_path  # uvicorn's --root-path
        self.config.http = supervisor.http_protocol  # the request head's limits (gateway.server)

    async def _serve(self) -> None:
        # uvicorn-worker's own (0.4), with the server that drains on SIGTERM instead of
        # uvicorn's (gateway.control.draining).
        self.config.app = self.wsgi
        app: Gateway = self.wsgi
        supervisor: Supervisor = self.app
        server = WorkerServer(
            self.config,
            parent_pid=self.ppid,
            drain_seconds=supervisor.drain_seconds,
            on_drain=app.own.start_draining,
        )
        # The arbiter's "quit now" (SIGINT or SIGQUIT to it, or a second signal while it
        # stops) reaches a worker as SIGQUIT. uvicorn-worker's own handler only marks the
        # worker as not alive, which uvicorn's server never reads, so the worker served on
        # until the arbiter killed it at the end of its graceful timeout. Here it stops the
        # server: stop accepting now, let requests in flight finish, no drain (the
        # arbiter kills what is left 2 s later).
        asyncio.get_running_loop().add_signal_handler(signal.SIGQUIT, server.quit_now)
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)


def child_exit(server: Any, worker: Any) -> None:
    """gunicorn's hook, in the arbiter, for every worker that ended, however it ended."""
    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


class GatewayArbiter(Arbiter):  # type: ignore[misc]
    """gunicorn's arbiter, telling a worker it replaces from one the server stops with, and
    passing a second SIGTERM on to the workers while they stop.

    gunicorn stops a worker with SIGTERM both when the server stops and when it replaces the
    worker (SIGHUP starts new workers and stops the old ones, SIGTTOU removes one). Only the
    first is the pod going away: a replaced worker that drained would answer the readiness
    probe 503 (from the port its successors share, so the probe would fail at random) and
    linger for the drain. A replaced worker is sent SIGINT instead: it stops accepting at once
    (its successors accept on the same socket) and lets its requests in flight finish.

    The arbiter's graceful stop waits for its workers and takes only SIGINT or SIGQUIT as a
    reason to hurry; a second SIGTERM was swallowed, so the workers drained on to the end. A
    single process ends its drain on a second SIGTERM (gateway.control.draining): passed on,
    each worker does the same. Before gunicorn 25.0, SIGINT and SIGQUIT were swallowed too:
    there they are passed on as SIGQUIT, the workers' "quit now", as later versions do.
    """

    stopping = False

    def stop(self, graceful: bool = True) -> None:
        self.stopping = True
        super().stop(graceful)

    def kill_worker(self, pid: int, sig: int) -> None:
        if sig == signal.SIGTERM and not self.stopping:
            sig = signal.SIGINT  # replaced, not stopped with the server: no drain
        super().kill_worker(pid, sig)

    def signal(self, sig: int, frame: FrameType | None) -> None:
        passed = self._passed_on_while_stopping(sig)
        if passed is not None:
            # Only os.kill, over a copy of the pids: in a signal handler, the main loop may be
            # in the middle of reaping (kill_workers would change WORKERS under it).
            for pid in list(self.WORKERS):
                with contextlib.suppress(OSError):  # gone already: reaped by the loop
                    os.kill(pid, passed)
            return
        super().signal(sig, frame)

    def _passed_on_while_stopping(self, sig: int) -> int | None:
        """The signal the workers get for `sig` received during the stop, if any."""
        if not self.stopping:
            return None
        if sig == signal.SIGTERM:
            return signal.SIGTERM
        if sig in (signal.SIGINT, signal.SIGQUIT) and not QUICK_SHUTDOWN:
            return signal.SIGQUIT
        return None


class Supervisor(BaseApplication):  # type: ignore[misc]
    def __init__(
        self,
        options: dict[str, Any],
        *,
        root_path: str,
        drain_seconds: float,
        http_protocol: type[asyncio.Protocol],
    ) -> None:
        self.options = options
        self.root_path = root_path
        self.drain_seconds = drain_seconds  # how long each worker drains on SIGTERM
        self.http_protocol = http_protocol
        super().__init__()

    def run(self) -> None:
        # BaseApplication.run, with the arbiter above.
        try:
            GatewayArbiter(self).run()
        except RuntimeError as exc:
            print(f"\nError: {exc}\n", file=sys.stderr)
            sys.exit(1)

    def load_config(self) -> None:
        for name, value in self.options.items():
            self.cfg.set(name, value)

    def load(self) -> Any:
        # In the worker, after the fork. prometheus-client chooses how values are stored when
        # it is first imported, which in the arbiter was before PROMETHEUS_MULTIPROC_DIR was
        # set; each worker chooses again, so its metrics go to the shared folder.
        values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
        return create_server_app()


def gunicorn_logging(config: dict[str, Any]) -> dict[str, Any]:
    """uvicorn's logging setup, plus what gunicorn's arbiter logs through.

    gunicorn replaces its own defaults' sections with the ones given, so its root and
    `gunicorn.*` loggers must name handlers of this configuration.
    """
    quiet = {"level": "INFO", "handlers": ["default"], "propagate": False}
    return {
        **config,
        "root": {"level": "WARNING", "handlers": ["default"]},
        "loggers": {
            **config["loggers"],
            "gunicorn.error": quiet,
            "gunicorn.access": {**quiet, "handlers": []},
        },
    }


def bind_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def run_workers(
    *,
    host: str,
    port: int,
    workers: int,
    root_path: str,
    log_config: dict[str, Any],
    log_level: str,
    timeout: int,
    max_requests: int,
    http_protocol: type[asyncio.Protocol],
    drain_seconds: float = 0.0,
    uds: str | None = None,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
    timeout_keep_alive: int = 5,
) -> None:
    """Serve with `workers` processes until the arbiter is told to stop (SIGTERM, SIGINT)."""
    # uvicorn-worker hands gunicorn's certfile/keyfile to each worker's uvicorn.
    tls = {"certfile": ssl_certfile, "keyfile": ssl_keyfile} if ssl_certfile else {}
    Supervisor(
        {
            "bind": [f"unix:{uds}" if uds else bind_address(host, port)],
            "workers": workers,
            "worker_class": f"{GatewayWorker.__module__}.{GatewayWorker.__qualname__}",
            "timeout": timeout,
            # The arbiter kills workers still running after this: the drain comes first.
            "graceful_timeout": math.ceil(drain_seconds) + GRACEFUL_SECONDS,
            "keepalive": timeout_keep_alive,  # uvicorn-worker's timeout_keep_alive
            "max_requests": max_requests,
            "max_requests_jitter": max_requests // 10,
            "child_exit": child_exit,
            "logconfig_dict": gunicorn_logging(log_config),
            "loglevel": log_level,
            "accesslog": None,
            "proc_name": "gateway",
            **NO_CONTROL_SOCKET,
            **tls,
        },
        root_path=root_path,
        drain_seconds=drain_seconds,
        http_protocol=http_protocol,
    ).run()
