"""The `gateway` command: serve, check, routes, inventory, openapi, parity."""

from __future__ import annotations

import importlib.metadata
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

import dotenv
import typer
import typer.main
import uvicorn
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector
from pydantic import ValidationError
from typer.core import TyperGroup

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
from gateway.guide.inventory import Catalogue, LedgerParity, records
from gateway.guide.openapi import merged as merged_openapi
from gateway.guide.openapi import new_document
from gateway.guide.render import InventoryFormat, render
from gateway.guide.traffic import MetricsFetchError
from gateway.guide.traffic import fetch as fetch_traffic
from gateway.observe.log_format import LINE_FORMAT
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
from gateway.server.head import HeadLimits
from gateway.server.protocols import http_protocol
from gateway.settings import GatewaySettings, LogLevel, setting_help
from gateway.sides import LEGACY, NEW, is_side
from gateway.supervisor import run_workers

# The options every command takes, before or after its name (`gateway --app-dir src check` and
# `gateway check --app-dir src` alike). Declared once here; GatewayGroup gives them to every
# command and group of the tree.
_globals = typer.Typer(add_completion=False)


def _use_app_dir(ctx: typer.Context, value: list[Path] | None) -> None:
    meta = ctx.find_root().meta
    for folder in value or []:
        if CURRENT_FOLDER in meta:  # the default, put in place before this command's options
            sys.path.remove(meta.pop(CURRENT_FOLDER))
        sys.path.insert(0, str(folder.resolve()))
        meta.setdefault(APP_DIRS, []).append(folder)


def _use_env_file(value: Path | None) -> None:
    if value is None:
        return
    if not value.is_file():
        fail(f"--env-file {value}: file not found")
    # As uvicorn's --env-file: the variables the environment sets already win.
    dotenv.load_dotenv(value, override=False)


APP_DIRS = "gateway.app_dirs"  # in the root context's meta: the folders given, in order
CURRENT_FOLDER = "gateway.current_folder"


@_globals.command()
def _global_options(
    app_dir: Annotated[
        list[Path] | None,
        typer.Option(
            "--app-dir",
            metavar="<path>",
            help="Folder to import the apps from, as uvicorn's --app-dir (repeatable); "
            "the current folder otherwise.",
            callback=_use_app_dir,
            is_eager=True,  # before the options whose values are read from the environment
            expose_value=False,
        ),
    ] = None,
    env_file: Annotated[
        Path | None,
        typer.Option(
            "--env-file",
            metavar="<path>",
            help="Read environment variables (GATEWAY_*, the apps' own) from this file, as "
            "uvicorn's --env-file; the environment's own values win. A .env file in the "
            "current folder is read for the GATEWAY_* settings anyway.",
            callback=_use_env_file,
            is_eager=True,
            expose_value=False,
        ),
    ] = None,
) -> None:
    """Not a command: the holder of the global options' definitions."""


def _with_global_options(command: Any, options: list[Any]) -> None:
    command.params.extend(options)
    for sub in getattr(command, "commands", {}).values():
        _with_global_options(sub, options)


class GatewayGroup(TyperGroup):
    """The `gateway` group: each of its commands, at any depth, also takes the global options."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _with_global_options(self, list(typer.main.get_command(_globals).params))


def _version(value: bool) -> None:
    if value:
        try:
            version = importlib.metadata.version("flask-fastapi-gateway")
        except importlib.metadata.PackageNotFoundError:  # imported from a checkout, not installed
            version = "unknown (not installed)"
        typer.echo(f"gateway (flask-fastapi-gateway) {version}")
        raise typer.Exit()


cli = typer.Typer(
    cls=GatewayGroup,
    help="A gateway serving a Flask app and its FastAPI rewrite, route by route.",
    no_args_is_help=True,
    add_completion=False,
    # -h as well as --help, in every command (subcommands inherit the names).
    context_settings={"help_option_names": ["-h", "--help"]},
    # Click's plain help: Typer's rich panels list `--help <bool>` as if it took a value, and
    # read the options' "[env: ...]" notes as markup and drop them.
    rich_markup_mode=None,
)

cli.add_typer(rollout_cli, name="rollout")

RoutesOption = Annotated[
    Path | None,
    typer.Option(metavar="<path>", help=setting_help("routes_file", "The routes file.")),
]
LegacyOption = Annotated[
    str | None,
    typer.Option(
        metavar="<module:app>", help=setting_help("legacy_app", "WSGI app import string.")
    ),
]
NewOption = Annotated[
    str | None,
    typer.Option(metavar="<module:app>", help=setting_help("new_app", "ASGI app import string.")),
]


@cli.callback()
def _root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            help="Print the version and exit.",
            callback=_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
    current = str(Path.cwd())
    # No --app-dir before the command: the current folder (taken back by one after it).
    if APP_DIRS not in ctx.meta and current not in sys.path:
        ctx.meta[CURRENT_FOLDER] = current
        sys.path.insert(0, current)


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
        # uvicorn's lines, the gateway's and gunicorn's arbiter's, each with its time.
        "default": {
            "()": "gateway.observe.log_format.TimestampedFormatter",
            "fmt": LINE_FORMAT,
            "use_colors": None,
        },
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
    owner = os.getpid()
    try:
        yield str(folder)
    finally:
        # A worker leaves through here too: forked inside this block, it ends by SystemExit
        # (recycled, replaced, stopped). Only the arbiter's exit may empty the folder; a
        # worker's removed every worker's files, and its replacement could not start.
        if os.getpid() == owner:
            shutil.rmtree(folder, ignore_errors=True)


# Each command's `short_help` is its line in `gateway --help`, where Click cuts longer text.
@cli.command(short_help="Serve both apps, routing by the routes file.")
def serve(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option(help="Address to bind.", envvar="GATEWAY_HOST")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.", envvar="GATEWAY_PORT")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes.", envvar="GATEWAY_WORKERS")
    ] = 1,
    log_level: Annotated[
        LogLevel | None, typer.Option(help=setting_help("log_level", "How much to log."))
    ] = None,
    root_path: Annotated[
        str,
        typer.Option(
            help="The path prefix a proxy in front strips (uvicorn's --root-path); the apps "
            "see it as SCRIPT_NAME / root_path and build their URLs with it.",
            envvar="GATEWAY_ROOT_PATH",
        ),
    ] = "",
    uds: Annotated[
        Path | None,
        typer.Option(
            metavar="<path>",
            help="Listen on this Unix domain socket instead of --host and --port.",
            envvar="GATEWAY_UDS",
        ),
    ] = None,
    ssl_certfile: Annotated[
        Path | None,
        typer.Option(
            metavar="<path>",
            help="Serve HTTPS with this certificate (PEM; the chain after it).",
            envvar="GATEWAY_SSL_CERTFILE",
        ),
    ] = None,
    ssl_keyfile: Annotated[
        Path | None,
        typer.Option(
            metavar="<path>",
            help="The certificate's private key (PEM), unless the certificate file holds it.",
            envvar="GATEWAY_SSL_KEYFILE",
        ),
    ] = None,
    timeout_keep_alive: Annotated[
        int,
        typer.Option(
            min=1,
            metavar="<seconds>",
            help="Close a kept-alive connection idle this long.",
            envvar="GATEWAY_TIMEOUT_KEEP_ALIVE",
        ),
    ] = 5,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            metavar="<ips>",
            help=setting_help(
                "forwarded_allow_ips",
                "Proxies (addresses, CIDRs, or *) whose X-Forwarded-For or Forwarded names the "
                "client.",
            ),
        ),
    ] = None,
    reload: Annotated[
        bool,
        typer.Option(
            "--reload",
            help="For development: restart when a Python file under the app folders "
            "(--app-dir, or --reload-dir) changes. One process; no drain, no metrics port, no "
            "rollout controller.",
        ),
    ] = False,
    reload_dir: Annotated[
        list[Path] | None,
        typer.Option(
            "--reload-dir",
            metavar="<path>",
            help="With --reload: watch this folder (repeatable) instead of the app folders.",
        ),
    ] = None,
    routes_file: RoutesOption = None,
    legacy_app: LegacyOption = None,
    new_app: NewOption = None,
) -> None:
    """Serve both apps with uvicorn (uvloop, httptools), routing by the routes file.

    With --workers N, gunicorn's arbiter supervises N uvicorn workers (gateway.supervisor).
    The routes file is reloaded when it changes, with or without --reload.
    """
    if forwarded_allow_ips is not None:  # a setting: the workers read it from the environment
        os.environ["GATEWAY_FORWARDED_ALLOW_IPS"] = forwarded_allow_ips
    settings = _settings(routes_file, legacy_app, new_app)
    level = log_level or settings.log_level
    if ssl_keyfile is not None and ssl_certfile is None:
        fail("--ssl-keyfile needs --ssl-certfile")
    listen: dict[str, Any] = {
        "host": host,
        "port": port,
        "uds": str(uds) if uds else None,
        "ssl_certfile": str(ssl_certfile) if ssl_certfile else None,
        "ssl_keyfile": str(ssl_keyfile) if ssl_keyfile else None,
        "timeout_keep_alive": timeout_keep_alive,
    }
    options: dict[str, Any] = {
        **listen,
        "log_config": log_config(level),
        "log_level": level,
        "access_log": False,  # the gateway writes its own access log (GATEWAY_ACCESS_LOG)
        "loop": "uvloop",
        # httptools, bounded: the request head's size and time (gateway.server)
        "http": http_protocol(
            "httptools", HeadLimits(settings.max_header_bytes, settings.header_timeout)
        ),
        "lifespan": "on",
        "timeout_graceful_shutdown": 30,
        "root_path": root_path,
        # Forwarded headers are read by the gateway alone (GATEWAY_FORWARDED_ALLOW_IPS);
        # uvicorn's own pass trusts 127.0.0.1 by default and would rewrite the client first.
        "proxy_headers": False,
    }
    if reload:
        if workers > 1:
            fail("--reload runs one process: it cannot be combined with --workers")
        _serve_reloading(settings, options, reload_dir or _app_dirs(ctx))
        return
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
                **listen,
                workers=workers,
                root_path=root_path,
                log_config=options["log_config"],
                log_level=level,
                timeout=settings.worker_timeout,
                max_requests=settings.max_requests,
                http_protocol=options["http"],
                drain_seconds=settings.drain_seconds,
            )


def _app_dirs(ctx: typer.Context) -> list[Path]:
    """The folders the apps are imported from: those given with --app-dir, or the current one."""
    given: list[Path] = ctx.find_root().meta.get(APP_DIRS, [])
    return given or [Path(".")]


def _serve_reloading(
    settings: GatewaySettings, options: dict[str, Any], folders: list[Path]
) -> None:
    """uvicorn's reloader: the gateway runs in a child process, started again on every change
    of a Python file under `folders`. The child builds the gateway from the environment
    (which holds the options given here) and imports the apps from the same sys.path."""
    _load_table(settings)  # a broken setup fails here, once, not in a child started in a loop
    if settings.metrics_port is not None or settings.rollout:
        typer.secho(
            "warning: with --reload, GATEWAY_METRICS_PORT and GATEWAY_ROLLOUT are ignored",
            err=True,
        )
    uvicorn.run(
        "gateway.app:create_server_app",
        factory=True,
        reload=True,
        reload_dirs=[str(folder) for folder in folders],
        **options,
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
        metavar="<url>",
        help="A gateway's full /metrics URL, for traffic share and p99 (repeatable: summed).",
    ),
]


@cli.command(short_help="Every legacy endpoint, what it depends on, and where it stands.")
def inventory(
    output: Annotated[
        InventoryFormat, typer.Option("--format", help="A table, JSON or Markdown.")
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
    parity = LedgerParity.read(settings.ledger_location)
    typer.echo(render(records(catalogue, table, traffic, parity), output))


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
