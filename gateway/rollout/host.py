"""`GATEWAY_ROLLOUT=true`: `gateway serve` runs the controller itself, once per host.

It runs in the process that supervises the workers (with one worker, in that process), never in
the workers: each would otherwise judge and write on its own. Its figures are the host's own
metrics, read in-process (the workers' multiprocess files, summed); its lock keeps a second
`gateway serve` on the same routes file from deciding too.

With several workers the controller is a thread of gunicorn's arbiter, which forks workers: the
thread is not copied into them, and its own metrics stay in the arbiter's memory (served on
GATEWAY_METRICS_PORT). The libraries it runs are, with whatever locks they held at the fork:
forks wait for its pass to end (gateway.rollout.fork_gate).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry

from gateway.observe.notify import Notifier
from gateway.rollout.controller import Controller, RolloutMetrics
from gateway.rollout.figures import RegistrySource
from gateway.rollout.file_lock import FileLock, lock_path
from gateway.rollout.file_store import FileStore
from gateway.rollout.fork_gate import ForkGate
from gateway.rollout.parity_wiring import ledger_parity
from gateway.settings import GatewaySettings


class RolloutSetupError(ValueError):
    """GATEWAY_ROLLOUT=true cannot work as configured; the message says what to change."""


def check_writable(settings: GatewaySettings) -> None:
    folder = settings.routes_file.absolute().parent
    if not os.access(folder, os.W_OK):
        raise RolloutSetupError(
            f"GATEWAY_ROLLOUT=true writes the routes file, but its folder {folder} is not "
            "writable (mount it read-write, or run `gateway rollout run` elsewhere)"
        )


@contextmanager
def host_controller(settings: GatewaySettings, registry: CollectorRegistry) -> Iterator[None]:
    """Run the controller in a thread while the block runs, when the settings ask for it.

    `registry` is read for the figures, and the controller's own metrics are added to it."""
    if not settings.rollout:
        yield
        return
    check_writable(settings)
    controller = Controller(
        FileStore(settings.routes_file),
        FileLock(lock_path(settings.routes_file)),
        RegistrySource(registry),
        ledger_parity(settings),
        RolloutMetrics(registry),
        notifier=Notifier.from_setting(settings.notify_urls),
        notify_rollbacks=not settings.gateway_notifies_rollbacks,
    )
    stop = threading.Event()
    thread = threading.Thread(
        target=controller.run,
        args=(stop, settings.rollout_every, ForkGate()),
        name="rollout-controller",
        daemon=True,  # never keeps a stopping server alive; the stop below ends it first
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)
