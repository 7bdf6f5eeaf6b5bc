"""`gateway rollout ...`: run the controller, show where each rollout stands, act on one."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from prometheus_client import CollectorRegistry, start_http_server
from pydantic import ValidationError

from gateway.cli_errors import fail
from gateway.config.routes_file import RoutesFileError
from gateway.observe.notify import Notifier
from gateway.rollout import actions, guard_clear
from gateway.rollout.controller import Controller, RolloutMetrics
from gateway.rollout.decide import EntryView
from gateway.rollout.figures import (
    FiguresSource,
    MetricsSource,
    PrometheusSource,
    redacted,
    url_problem,
)
from gateway.rollout.file_lock import FileLock, lock_path
from gateway.rollout.file_store import FileStore
from gateway.rollout.lock import LeaderLock
from gateway.rollout.parity_wiring import ledger_parity
from gateway.rollout.store import RoutesStore, StoreConflict
from gateway.settings import GatewaySettings, setting_help

rollout_cli = typer.Typer(
    help="Progressive delivery: step routes through their rollouts.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

RoutesOption = Annotated[
    Path | None,
    typer.Option(metavar="<path>", help=setting_help("routes_file", "The routes file.")),
]
MethodOption = Annotated[
    str | None,
    typer.Option(
        "--method", metavar="<method>", help="The entry's method, when the path has several."
    ),
]
ReasonOption = Annotated[
    str, typer.Option(metavar="<text>", help="Why: written in the entry's status.")
]
ConfigMapOption = Annotated[
    str | None,
    typer.Option(
        "--configmap",
        metavar="<namespace/name/key>",
        help="Kubernetes: the routes table is this ConfigMap key, NAMESPACE/NAME/KEY, instead "
        "of the routes file (needs the [kubernetes] extra).",
    ),
]


def _store(settings: GatewaySettings, configmap: str | None) -> RoutesStore:
    if configmap is None:
        return FileStore(settings.routes_file)
    from gateway.rollout.kubernetes import configmap_store  # the optional client, only here

    try:
        return configmap_store(configmap)
    except (ValueError, ImportError) as exc:
        fail(f"--configmap: {exc}")


def _lock(settings: GatewaySettings, lease: str | None) -> LeaderLock:
    if lease is None:
        return FileLock(lock_path(settings.routes_file))
    from gateway.rollout.kubernetes import lease_lock

    try:
        return lease_lock(lease)
    except (ValueError, ImportError) as exc:
        fail(f"--lease: {exc}")


def _settings(routes_file: Path | None) -> GatewaySettings:
    if routes_file is not None:
        os.environ["GATEWAY_ROUTES_FILE"] = str(routes_file)
    try:
        return GatewaySettings()
    except ValidationError as exc:
        fail(f"invalid settings:\n{exc}")


def _release(lock: LeaderLock) -> None:
    try:
        lock.release()
    except Exception as exc:  # a lease not given back expires by itself
        typer.secho(f"warning: the lock was not released: {exc}", err=True)


def _source(settings: GatewaySettings, prometheus: str | None, metrics: list[str]) -> FiguresSource:
    if prometheus and metrics:
        fail("give --prometheus or --metrics, not both")
    named = [("--prometheus", prometheus)] if prometheus else []
    for option, url in [*named, *(("--metrics", url) for url in metrics)]:
        problem = url_problem(url)
        if problem is not None:
            fail(f"{option} {redacted(url)!r}: {problem}")
    if prometheus:
        return PrometheusSource(prometheus)
    if metrics:
        token = settings.admin_token.get_secret_value() if settings.admin_token else None
        return MetricsSource(metrics, token)
    fail("give --prometheus URL (every replica) or --metrics URL (each gateway's /metrics)")


@rollout_cli.command(short_help="Run the controller: decide and write, pass after pass.")
def run(
    prometheus: Annotated[
        str | None,
        typer.Option(metavar="<url>", help="Prometheus' base URL: figures over every replica."),
    ] = None,
    metrics: Annotated[
        list[str] | None,
        typer.Option(
            "--metrics",
            metavar="<url>",
            help="A gateway's full /metrics URL (repeatable: summed).",
        ),
    ] = None,
    every: Annotated[
        float, typer.Option(min=0.1, metavar="<seconds>", help="Seconds between two passes.")
    ] = 5.0,
    once: Annotated[bool, typer.Option("--once", help="Make one pass and exit.")] = False,
    metrics_port: Annotated[
        int | None,
        typer.Option(metavar="<port>", help="Serve the controller's own metrics on this port."),
    ] = None,
    configmap: ConfigMapOption = None,
    lease: Annotated[
        str | None,
        typer.Option(
            "--lease",
            metavar="<namespace/name>",
            help="Kubernetes: one controller at a time by this Lease, NAMESPACE/NAME, instead "
            "of a lock file beside the routes file.",
        ),
    ] = None,
    routes_file: RoutesOption = None,
) -> None:
    """Read the fleet's figures, decide per route (advance, hold, abort) and write each decision
    into the routes file (or its ConfigMap); one controller at a time (a lock beside the file,
    or a Kubernetes Lease with --lease)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    settings = _settings(routes_file)
    source = _source(settings, prometheus, metrics or [])
    registry = CollectorRegistry()
    controller = Controller(
        _store(settings, configmap),
        _lock(settings, lease),
        source,
        ledger_parity(settings),
        RolloutMetrics(registry),
        # The fleet's controller: it tells the guard rollbacks unless the gateways are set to.
        notifier=Notifier.from_setting(settings.notify_urls),
        notify_rollbacks=settings.notify_rollbacks != "gateway",
    )
    if once:
        try:
            result = controller.run_once()
        except Exception as exc:  # an API server or ledger that fails: one line, not a trace
            fail(f"the pass failed: {type(exc).__name__}: {exc}")
        finally:
            _release(controller.lock)
            if controller.notifier is not None:
                controller.notifier.close()  # what the pass told is sent before exiting
        for view, verdict in result.verdicts:
            typer.echo(f"{view.describe()}: {verdict.decision}: {verdict.reason}")
        typer.echo(f"pass: {result.result}" + (f" ({result.detail})" if result.detail else ""))
        raise typer.Exit(code=1 if result.result in ("failed", "not_leader") else 0)
    if metrics_port is not None:
        try:
            server, thread = start_http_server(metrics_port, addr="127.0.0.1", registry=registry)
        except OSError as exc:  # taken, or not ours to bind
            fail(f"--metrics-port {metrics_port}: {exc.strerror or exc}")
    stop = threading.Event()

    def stopped(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stopped)
    try:
        controller.run(stop, every)
    finally:
        if metrics_port is not None:
            server.shutdown()
            thread.join()


@rollout_cli.command(short_help="Where each rollout stands.")
def status(
    route: Annotated[
        str | None, typer.Argument(metavar="ROUTE", help="Only this route (a template).")
    ] = None,
    method: MethodOption = None,
    routes_file: RoutesOption = None,
    configmap: ConfigMapOption = None,
) -> None:
    settings = _settings(routes_file)
    store = _store(settings, configmap)
    try:
        text = store.read().text
        if route is None:
            views = actions.list_views(text, store.source)
        else:
            views = [actions.find_view(text, store.source, route, method)]
    except (OSError, LookupError, RoutesFileError, actions.ActionError) as exc:
        fail(str(exc))
    if not views:
        typer.echo("no entry has a rollout")
    for view in views:
        typer.echo(describe_line(view))


def describe_line(view: EntryView) -> str:
    steps = "/".join(f"{weight:g}" for weight in view.rollout.steps)
    where = f"{view.describe()}: target {view.target}"
    if view.weight is not None:
        where += f" {view.weight:g}%"
    where += f", steps {steps}"
    state = view.status
    if state is None:
        return where + ", not started"
    paused = " (paused)" if state.paused else ""
    return (
        f"{where}, {state.state}{paused} at step {state.step} since {state.since.isoformat()}; "
        f"last: {state.decision}: {state.reason}"
    )


def _act(
    action: actions.Action,
    route: str,
    method: str | None,
    reason: str,
    routes_file: Path | None,
    configmap: str | None,
) -> None:
    settings = _settings(routes_file)
    by = os.environ.get("USER") or "operator"
    store = _store(settings, configmap)
    try:
        state = actions.apply(store, route, method, action, reason, by)
    except (actions.ActionError, RoutesFileError, StoreConflict, OSError) as exc:
        fail(str(exc))
    typer.echo(f"{route}: {state.state}, {state.decision}: {state.reason}")


ACTIONS: dict[actions.Action, str] = {
    "approve": "Let a rollout enter its next step that waits for a person.",
    "pause": "Hold a rollout where it is.",
    "resume": "Go on after a pause, or start again after an abort.",
    "abort": "Send a route back to legacy and stop its rollout.",
}


def _action_command(action: actions.Action) -> None:
    """One command per action, all with the same arguments: an edit of one entry's status."""

    def command(
        route: Annotated[str, typer.Argument(metavar="ROUTE", help="The route (a template).")],
        method: MethodOption = None,
        reason: ReasonOption = "",
        routes_file: RoutesOption = None,
        configmap: ConfigMapOption = None,
    ) -> None:
        _act(action, route, method, reason, routes_file, configmap)

    rollout_cli.command(name=action, short_help=ACTIONS[action], help=ACTIONS[action])(command)


for _action in ACTIONS:
    _action_command(_action)


@rollout_cli.command(short_help="End a guard's rollback in every gateway (an edit of the entry).")
def clear(
    route: str,
    method: MethodOption = None,
    routes_file: RoutesOption = None,
    configmap: ConfigMapOption = None,
) -> None:
    """End a guard's rollback: writes `guard.cleared` on the entry, so every gateway that
    reloads the table starts the entry's guard afresh."""
    store = _store(_settings(routes_file), configmap)
    try:
        stamp = guard_clear.clear(store, route, method)
    except (actions.ActionError, RoutesFileError, StoreConflict, OSError) as exc:
        fail(str(exc))
    typer.echo(f"{route}: guard cleared at {stamp}")
