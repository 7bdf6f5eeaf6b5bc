"""The `gateway` command: serve, check, routes, inventory, openapi, parity."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Annotated, Any, NoReturn

import typer
import uvicorn
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector
from pydantic import ValidationError

from gateway.app import (
    GatewayConfigError,
    create_app,
    freeze_startup_objects,
    load_apps,
    new_side,
    table_builder,
)
from gateway.behaviours.facts import flask_session_reader
from gateway.behaviours.registry import BEHAVIOURS
from gateway.cli_errors import fail
from gateway.config.entry_defaults import effective_options
from gateway.config.routes_file import RoutesFileError, read_routes_file
from gateway.control.draining import DrainingServer
from gateway.frameworks import find_router
from gateway.frameworks.agreement import RouterAgreement
from gateway.guide.inventory import Catalogue, records
from gateway.guide.openapi import merged as merged_openapi
from gateway.guide.openapi import new_document
from gateway.guide.render import InventoryFormat, render
from gateway.guide.traffic import MetricsFetchError
from gateway.guide.traffic import fetch as fetch_traffic
from gateway.parity.command import parity_cli
from gateway.rollout.cli import rollout_cli
from gateway.rollout.describe import rollout_lines
from gateway.rollout.host import RolloutSetupError, host_controller
from gateway.rollout.rollbacks import guard_report
from gateway.routing.endpoints import (
    Endpoint,
    starlette_endpoints,
    starlette_routes,
)
from gateway.routing.table import RouteTable
from gateway.settings import GatewaySettings, LogLevel
from gateway.sides import LEGACY, NEW, is_side
from gateway.supervisor import run_workers

cli = typer.Typer(
    help="A gateway serving a Flask app and its FastAPI rewrite, route by route.",
    no_args_is_help=True,
    add_completion=False,
    # Click's plain help: Typer's rich panels list `--help <bool>` as if it took a value, and
    # read the options' "[env: ...]" notes as markup and drop them.
    rich_markup_mode=None,
)

cli.add_typer(rollout_cli, name="rollout")

RoutesOption = Annotated[
    Path | None, typer.Option(help="The routes file [env: GATEWAY_ROUTES_FILE].")
]
LegacyOption = Annotated[
    str | None, typer.Option(help="WSGI app import string [env: GATEWAY_LEGACY_APP].")
]
NewOption = Annotated[
    str | None, typer.Option(help="ASGI app import string [env: GATEWAY_NEW_APP].")
]


@cli.callback()
def _app_dir(
    app_dir: Annotated[
        Path, typer.Option(help="Folder to import the apps from, as uvicorn's --app-dir.")
    ] = Path("."),
) -> None:
    sys.path.insert(0, str(app_dir.resolve()))


def _settings(
    routes_file: Path | None, legacy_app: str | None, new_app: str | None
) -> GatewaySettings:
    """Settings from the environment, with command-line options taking precedence.

    The options are also written back to the environment, so worker processes started by
    uvicorn (which rebuild the gateway from the environment) see the same settings.
    """
    for name, value in (
        ("GATEWAY_ROUTES_FILE", routes_file),
        ("GATEWAY_LEGACY_APP", legacy_app),
        ("GATEWAY_NEW_APP", new_app),
    ):
        if value is not None:
            os.environ[name] = str(value)
    try:
        return GatewaySettings()
    except ValidationError as exc:
        fail(f"invalid settings:\n{exc}")


def _fail_each(source: str, problems: Sequence[str]) -> NoReturn:
    """One `error:` line per problem, each naming the file, for people and for grep."""
    for problem in problems:
        typer.secho(f"error: {source}: {problem}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=1)


def _load_table(settings: GatewaySettings) -> tuple[RouteTable, Any, Any]:
    try:
        legacy, new = load_apps(settings)
        side = new_side(new, settings)  # at GATEWAY_NEW_URL: its OpenAPI document, read here
        build = table_builder(settings, side, flask_session_reader(legacy))
        table = build(read_routes_file(settings.routes_file), str(settings.routes_file))
    except GatewayConfigError as exc:
        fail(str(exc))
    except RoutesFileError as exc:
        _fail_each(exc.source, exc.problems)
    if legacy is None:  # GATEWAY_LEGACY_URL alone: there is no code to read
        typer.echo(
            "(the legacy side is at GATEWAY_LEGACY_URL: what reads its code, the "
            "inventory and the router checks, is skipped; set GATEWAY_LEGACY_APP "
            "beside it to have them)",
            err=True,
        )
    return table, legacy, side.source


def log_config(level: LogLevel) -> dict[str, Any]:
    config: dict[str, Any] = {**uvicorn.config.LOGGING_CONFIG}
    config["formatters"] = {
        **config["formatters"],
        "line": {"format": "%(message)s"},
    }
    config["handlers"] = {
        **config["handlers"],
        "access_json": {
            "class": "logging.StreamHandler",
            "formatter": "line",
            "stream": "ext://sys.stdout",
        },
        "events_json": {
            "class": "logging.StreamHandler",
            "formatter": "line",
            "stream": "ext://sys.stderr",
        },
    }
    config["loggers"] = {
        **config["loggers"],
        "gateway": {"handlers": ["default"], "level": level.upper(), "propagate": False},
        "gateway.access": {"handlers": ["access_json"], "level": "INFO", "propagate": False},
        # Mismatch and other events: JSON lines, unprefixed, on stderr beside uvicorn's log.
        "gateway.events": {"handlers": ["events_json"], "level": "INFO", "propagate": False},
        # The rollout controller's decisions, one JSON line each (GATEWAY_ROLLOUT=true).
        "gateway.rollout": {"handlers": ["access_json"], "level": "INFO", "propagate": False},
    }
    return config


@contextmanager
def _multiprocess_metrics(workers: int) -> Iterator[str]:
    """Give worker processes one folder for their metrics, emptied before and after."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    folder = Path(given) if given else Path(tempfile.mkdtemp(prefix="gateway-metrics-"))
    if given:  # values left by a previous run would be added to this one's
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    try:
        yield str(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# Each command's `short_help` is its line in `gateway --help`, where Click cuts longer text.
@cli.command(short_help="Serve both apps, routing by the routes file.")
def serve(
    host: Annotated[
        str, typer.Option(help="Address to bind.", envvar="GATEWAY_HOST")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.", envvar="GATEWAY_PORT")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes.", envvar="GATEWAY_WORKERS")
    ] = 1,
    log_level: Annotated[LogLevel | None, typer.Option(help="[env: GATEWAY_LOG_LEVEL]")] = None,
    root_path: Annotated[
        str,
        typer.Option(
            help="The path prefix a proxy in front strips (uvicorn's --root-path); the apps "
            "see it as SCRIPT_NAME / root_path and build their URLs with it."
        ),
    ] = "",
    routes_file: RoutesOption = None,
    legacy_app: LegacyOption = None,
    new_app: NewOption = None,
) -> None:
    """Serve both apps with uvicorn (uvloop, httptools), routing by the routes file.

    With --workers N, gunicorn's arbiter supervises N uvicorn workers (gateway.supervisor).
    """
    settings = _settings(routes_file, legacy_app, new_app)
    level = log_level or settings.log_level
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_config": log_config(level),
        "log_level": level,
        "access_log": False,  # the gateway writes its own access log (GATEWAY_ACCESS_LOG)
        "loop": "uvloop",
        "http": "httptools",
        "lifespan": "on",
        "timeout_graceful_shutdown": 30,
        "root_path": root_path,
        # Forwarded headers are read by the gateway alone (GATEWAY_FORWARDED_ALLOW_IPS);
        # uvicorn's own pass trusts 127.0.0.1 by default and would rewrite the client first.
        "proxy_headers": False,
    }
    if workers == 1:
        registry = CollectorRegistry()
        try:
            app = create_app(settings, registry=registry)
        except (GatewayConfigError, RoutesFileError) as exc:
            fail(str(exc))
        _metrics_port(settings, host, registry)
        freeze_startup_objects()
        _stop_signals_exit_0()
        server = DrainingServer(
            uvicorn.Config(app, **options),
            drain_seconds=settings.drain_seconds,
            on_drain=app.own.start_draining,
        )
        with _rollout(settings, registry):
            server.run()
        if not server.started:
            raise typer.Exit(code=3)  # as uvicorn.run: a server that never started failed
        return
    _load_table(settings)  # fail here, once, rather than in every worker
    with _multiprocess_metrics(workers) as folder:
        combined = CollectorRegistry()
        MultiProcessCollector(combined, path=folder)  # type: ignore[no-untyped-call]
        _metrics_port(settings, host, combined)
        with _rollout(settings, combined):
            run_workers(
                host=host,
                port=port,
                workers=workers,
                root_path=root_path,
                log_config=options["log_config"],
                log_level=level,
                timeout=settings.worker_timeout,
                max_requests=settings.max_requests,
                drain_seconds=settings.drain_seconds,
            )


@contextmanager
def _rollout(settings: GatewaySettings, registry: CollectorRegistry) -> Iterator[None]:
    """The rollout controller, once per host, when GATEWAY_ROLLOUT=true (gateway.rollout.host)."""
    try:
        with host_controller(settings, registry):
            yield
    except RolloutSetupError as exc:
        fail(str(exc))


def _stop_signals_exit_0() -> None:
    """After a graceful stop on SIGTERM or SIGINT, exit with status 0 (as gunicorn does).

    uvicorn shuts down on these signals, then raises the signal again under the handler that
    was in place before it started. Under the default one the process dies of SIGTERM, and a
    caller such as `make run` reports the stop as a failure ("make: *** [run] Terminated").
    """

    def stopped(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stopped)


def _metrics_port(settings: GatewaySettings, host: str, registry: CollectorRegistry) -> None:
    """Serve the metrics on a port of their own too, when the settings ask for one."""
    if settings.metrics_port is not None:
        start_http_server(settings.metrics_port, addr=host, registry=registry)


@cli.command(short_help="Validate the settings and the routes file; print the table.")
def check(
    routes_file: RoutesOption = None, legacy_app: LegacyOption = None, new_app: NewOption = None
) -> None:
    """Validate the settings and the routes file, and print the route table."""
    settings = _settings(routes_file, legacy_app, new_app)
    table, legacy, new = _load_table(settings)
    typer.echo(f"{settings.routes_file}: {len(table)} entries, default {table.default}")
    for entry in table.entries:
        methods = ",".join(sorted(entry.methods)) if entry.methods else "*"
        options = effective_options(entry)  # inherited `defaults:` included
        shown = f" {options}" if options != "{}" else ""
        typer.echo(f"  {methods:<20} {entry.path:<50} -> {entry.target}{shown}")
    # Entries capturing an endpoint their side's router sends elsewhere: router-agreement.md.
    if find_router(legacy) is None:
        typer.echo(
            "(the legacy app's router cannot be read: entries not checked against it)", err=True
        )
    conflicts = RouterAgreement.of(legacy, new).conflicts(table)
    if conflicts:
        _fail_each(str(settings.routes_file), [conflict.message() for conflict in conflicts])
    typer.echo("ok")


def _served_by(table: RouteTable, endpoint: Endpoint) -> str:
    methods = sorted(endpoint.methods - {"*"}) or ["GET"]
    described: set[str] = set()
    for method in methods:
        entry = table.match(endpoint.sample, method)
        if entry is None:
            described.add(table.default)
        else:
            described.add(BEHAVIOURS[entry.target].summary(entry))
    return described.pop() if len(described) == 1 else "mixed"


@cli.command(short_help="List both apps' endpoints and the side each is sent to.")
def routes(
    routes_file: RoutesOption = None,
    legacy_app: LegacyOption = None,
    new_app: NewOption = None,
    live: Annotated[
        str | None,
        typer.Option(
            help="A running gateway's URL: show its rollbacks now, why, and how to clear."
        ),
    ] = None,
) -> None:
    """List every endpoint of both apps and which side the table sends it to."""
    settings = _settings(routes_file, legacy_app, new_app)
    table, legacy, new = _load_table(settings)
    legacy_router = find_router(legacy)
    new_routes = starlette_routes(new)
    listing: list[tuple[str, Endpoint]] = []
    if legacy_router is None:
        typer.echo(f"(the legacy app {settings.legacy_app} does not list its routes)", err=True)
    else:
        listing += [(LEGACY, route.endpoint()) for route in legacy_router.routes()]
    if new is None:
        typer.echo("(no new app: GATEWAY_NEW_APP is not set)", err=True)
    elif new_routes is None:
        typer.echo(f"(the new app {settings.new_app} does not list its routes)", err=True)
    else:
        listing += [(NEW, endpoint) for endpoint in starlette_endpoints(new_routes)]
    captured: dict[tuple[str, str], str] = {
        (conflict.side, conflict.template): conflict.entry.describe()
        for conflict in RouterAgreement.of(legacy, new).conflicts(table)
    }
    typer.echo(f"{'APP':<7} {'METHODS':<22} {'PATH':<48} SERVED BY")
    for owner, endpoint in sorted(listing, key=lambda item: (item[1].template, item[0])):
        methods = ",".join(sorted(endpoint.methods))
        by = captured.get((owner, endpoint.template))
        mark = f"  ! captured by {by}: see gateway check" if by else ""
        typer.echo(
            f"{owner:<7} {methods:<22} {endpoint.template:<48} {_served_by(table, endpoint)}{mark}"
        )
    served = [_served_by(table, endpoint) for owner, endpoint in listing if owner == LEGACY]
    if served:
        moved = served.count(NEW)
        trying = sum(1 for where in served if not is_side(where))
        typer.echo(
            f"\n{moved} of {len(served)} legacy endpoints are served by the new side "
            f"({100 * moved / len(served):.0f}%); {trying} more in canary, shadow or match."
        )
    _print_entry_options(table)
    for line in ["\nRollouts:", *rollout_lines(table)] if rollout_lines(table) else []:
        typer.echo(line)
    token = settings.admin_token or settings.read_token
    for line in guard_report(table, live, token.get_secret_value() if token else None):
        typer.echo(line)


def _print_entry_options(table: RouteTable) -> None:
    """Each entry's options as they apply, the routes file's `defaults:` included."""
    shown = [(entry, effective_options(entry)) for entry in table.entries]
    shown = [(entry, options) for entry, options in shown if options != "{}"]
    if shown:
        typer.echo("\nEntry options (with the routes file's defaults):")
    for entry, options in shown:
        methods = ",".join(sorted(entry.methods)) if entry.methods else "*"
        typer.echo(f"  {methods:<20} {entry.path:<48} {entry.target} {options}")


MetricsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--metrics",
        help="A gateway's full /metrics URL, for traffic share and p99 (repeatable: summed).",
    ),
]


@cli.command(short_help="Every legacy endpoint, what it depends on, and where it stands.")
def inventory(
    output: Annotated[
        InventoryFormat, typer.Option("--format", help="table, json or markdown.")
    ] = "table",
    metrics: MetricsOption = None,
    token: Annotated[
        str | None,
        typer.Option(help="Bearer token for /metrics [env: GATEWAY_ADMIN_TOKEN].", hidden=True),
    ] = None,
    routes_file: RoutesOption = None,
    legacy_app: LegacyOption = None,
    new_app: NewOption = None,
) -> None:
    """Every legacy endpoint: its view, hooks, request-local state, target, traffic, and a
    suggested migration order (busiest and least coupled first)."""
    settings = _settings(routes_file, legacy_app, new_app)
    table, legacy, new = _load_table(settings)
    traffic = None
    if metrics:
        secret = token or (
            settings.admin_token.get_secret_value() if settings.admin_token else None
        )
        try:
            traffic = fetch_traffic(metrics, secret)
        except MetricsFetchError as exc:
            fail(str(exc))
    catalogue = Catalogue.build(legacy, new)
    typer.echo(render(records(catalogue, table, traffic), output))


@cli.command(short_help="One OpenAPI document for both apps.")
def openapi(
    routes_file: RoutesOption = None, legacy_app: LegacyOption = None, new_app: NewOption = None
) -> None:
    """Print one OpenAPI document for both apps: the new app's operations where the table
    sends them to the new side, the legacy endpoints everywhere else."""
    settings = _settings(routes_file, legacy_app, new_app)
    table, legacy, new = _load_table(settings)
    document = merged_openapi(Catalogue.build(legacy, new), table, new_document(new), new)
    typer.echo(json.dumps(document, indent=2))


cli.add_typer(parity_cli, name="parity")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
