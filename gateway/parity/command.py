"""`gateway parity`: readiness per route from the ledger, and `gateway parity export`.

Both read the ledger directly (`--ledger`, default the settings' GATEWAY_LEDGER_URL): they work
when no gateway is running. Exit status of the report: 0 when every selected route meets
`--require` (or none is asked), 1 when one does not, 2 when the ledger cannot be read.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn

import typer
from pydantic import ValidationError
from typer.core import TyperGroup

from gateway.cli_errors import fail
from gateway.parity import export, readiness
from gateway.parity.readiness import RouteParity
from gateway.parity.store import LedgerError, ledger_url, shown
from gateway.parity.windows import since_time
from gateway.settings import GatewaySettings, setting_help

LEDGER_ERROR = 2


ReportFormat = Literal["table", "json"]


class ReportByDefault(TyperGroup):
    """`gateway parity` is a group (report, export) whose default command is `report`.

    It used to be a command of its own with `export` beside it: `gateway parity --require 0.99`
    still runs the report, as does `gateway parity` alone.
    """

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        asked_for_help = bool(args) and args[0] in ctx.help_option_names
        if not asked_for_help and not any(arg in self.commands for arg in args):
            args = ["report", *args]
        return super().parse_args(ctx, args)


parity_cli = typer.Typer(
    cls=ReportByDefault,
    help="Readiness per route from the parity ledger (shadow comparisons), and tests from it. "
    "`gateway parity` alone runs `gateway parity report`.",
    short_help="Readiness per route from the parity ledger.",
    add_completion=False,
    rich_markup_mode=None,
)

LedgerOption = Annotated[
    str | None,
    typer.Option(
        metavar="<url>",
        help="The ledger's URL.  [default: GATEWAY_LEDGER_URL, or GATEWAY_DATA_DIR/parity.db]",
    ),
]
SinceOption = Annotated[
    str | None,
    typer.Option(
        metavar="<when>",
        help="Only comparisons since: a duration (15m, 2h, 7d) or a time (ISO 8601).",
    ),
]
MethodOption = Annotated[
    list[str] | None,
    typer.Option("--method", metavar="<method>", help="Only this method (repeatable)."),
]


def _fail(message: str, code: int = LEDGER_ERROR) -> NoReturn:
    fail(message, code)  # a ledger that cannot be read exits 2: no verdict, not a failed one


def _ledger(given: str | None) -> str:
    if given:
        return given
    try:
        return GatewaySettings().ledger_location
    except ValidationError as exc:
        _fail(f"invalid settings:\n{exc}")


def _since(text: str | None) -> float | None:
    try:
        return since_time(text, time.time()) if text else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from None


def _read(
    url: str, route: str | None, methods: list[str] | None, since: float | None, samples: bool
) -> list[RouteParity]:
    try:
        return readiness.read(url, route=route, methods=methods, since=since, samples=samples)
    except LedgerError as exc:
        _fail(str(exc))


# A route is named the same way in every command: a template, as an argument. `--route` was
# this command's and export's way; it is still read, hidden, and says so.
DeprecatedRouteOption = Annotated[
    list[str] | None,
    typer.Option("--route", hidden=True, help="Deprecated: give the route as an argument."),
]


def _routes(given: list[str] | None, deprecated: list[str] | None) -> list[str]:
    if deprecated:
        typer.echo("warning: --route is deprecated: give the route as an argument", err=True)
    return [*(given or []), *(deprecated or [])]


@parity_cli.command("report", short_help="Readiness per route: ratio and differences.")
def report(
    route: Annotated[
        str | None, typer.Argument(metavar="ROUTE", help="Only this route template.")
    ] = None,
    route_option: DeprecatedRouteOption = None,
    method: MethodOption = None,
    output_format: Annotated[
        ReportFormat, typer.Option("--format", help="A table for people, or JSON.")
    ] = "table",
    require: Annotated[
        float | None,
        typer.Option(
            min=0.0, max=1.0, help="Exit 1 unless every route's match ratio is at least this."
        ),
    ] = None,
    min_compared: Annotated[
        int, typer.Option(min=1, help="With --require: a route needs this many comparisons.")
    ] = 1,
    since: SinceOption = None,
    samples: Annotated[bool, typer.Option(help="Include sample exchanges in the JSON.")] = False,
    ledger: LedgerOption = None,
) -> None:
    """Readiness per route: compared, matched, noise, mismatched, ratio, differences."""
    routes = _routes([route] if route else None, route_option)
    url = _ledger(ledger)
    start = _since(since)
    found = _read(url, None, method, start, samples)
    if routes:
        found = [parity for parity in found if parity.route in routes]
    # `--require 0` is a verdict too: it still asks for --min-compared comparisons.
    verdicts = {} if require is None else {p.route: p.meets(require, min_compared) for p in found}
    if output_format == "json":
        document = {
            "ledger": shown(ledger_url(url)),
            "since": start,
            "require": require,
            "min_compared": min_compared,
            "routes": [{**p.as_dict(), **_verdict(verdicts, p)} for p in found],
        }
        typer.echo(json.dumps(document, indent=2))
    else:
        _print_table(found, verdicts)
    if require is not None:
        missing = set(routes) - {parity.route for parity in found}
        for name in sorted(missing):
            typer.echo(f"{name}: no comparisons in the ledger", err=True)
        if missing or not found or not all(verdicts.values()):
            raise typer.Exit(code=1)


def _verdict(verdicts: dict[str, bool], parity: RouteParity) -> dict[str, bool]:
    return {"meets": verdicts[parity.route]} if parity.route in verdicts else {}


def _when(moment: float | None) -> str:
    if moment is None:
        return "-"
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _print_table(found: list[RouteParity], verdicts: dict[str, bool]) -> None:
    if not found:
        typer.echo("no comparisons recorded")
        return
    header = (
        f"{'ROUTE':<40} {'COMPARED':>8} {'MATCHED':>8} {'NOISE':>6} {'MISMATCH':>8} "
        f"{'TIMEOUT':>7} {'RATIO':>7}  {'LAST MISMATCH':<20} {'ENTRY CHANGED':<20}"
    )
    typer.echo(header + ("  VERDICT" if verdicts else ""))
    for p in found:
        ratio = "-" if p.match_ratio is None else f"{p.match_ratio:.2%}"
        line = (
            f"{p.route:<40} {p.compared:>8} {p.matched:>8} {p.noise:>6} {p.mismatched:>8} "
            f"{p.timeouts:>7} {ratio:>7}  {_when(p.last_mismatch):<20} "
            f"{_when(p.entry_changed_at):<20}"
        )
        if p.route in verdicts:
            line += "  ok" if verdicts[p.route] else "  FAIL"
        typer.echo(line)
        for signature in p.differences:
            fields = ", ".join(f"{name} ({signature.kinds[name]})" for name in signature.fields)
            typer.echo(f"    {signature.count:>7} x {signature.outcome:<8} {fields}")


@parity_cli.command("export", short_help="Write a route's sampled exchanges as pytest tests.")
def export_tests(
    output: Annotated[Path, typer.Option(metavar="<path>", help="The pytest module to write.")],
    route: Annotated[
        str | None,
        typer.Argument(metavar="ROUTE", help="The route template, as in the routes file."),
    ] = None,
    route_option: Annotated[
        str | None,
        typer.Option("--route", hidden=True, help="Deprecated: give the route as an argument."),
    ] = None,
    method: MethodOption = None,
    since: SinceOption = None,
    legacy_app: Annotated[
        str | None,
        typer.Option(
            metavar="<module:app>",
            help=setting_help("legacy_app", "WSGI app import string."),
        ),
    ] = None,
    new_app: Annotated[
        str | None,
        typer.Option(
            metavar="<module:app>",
            help=setting_help("new_app", "ASGI app import string."),
        ),
    ] = None,
    ledger: LedgerOption = None,
    include_writes: Annotated[
        bool,
        typer.Option(
            "--include-writes",
            help="Replay recorded POST, PUT, PATCH and DELETE exchanges too (needs "
            "--database-variable); by default only GET, HEAD and OPTIONS are.",
        ),
    ] = False,
    database_variable: Annotated[
        str | None,
        typer.Option(
            help="The environment variable naming the apps' database: the module replays "
            "writes only while it is set (to a database for tests).",
        ),
    ] = None,
) -> None:
    """Write one test per sampled exchange of ROUTE: each sends the recorded request to both
    apps in-process and asserts their answers are equal under the route's rules."""
    if include_writes and not database_variable:
        _fail("--include-writes needs --database-variable: writes go to that database only", 2)
    routes = _routes([route] if route else None, [route_option] if route_option else None)
    if len(routes) != 1:
        raise typer.BadParameter("give one route: gateway parity export ROUTE --output FILE")
    route = routes[0]
    url = _ledger(ledger)
    found = _read(url, route, method, _since(since), True)
    if not found or not export.exchanges(found[0]):
        _fail(f"no sampled exchanges of {route} in the ledger", code=1)
    settings = None if legacy_app and new_app else GatewaySettings()
    legacy = legacy_app or (settings.legacy_app if settings else "")
    new = new_app or (settings.new_app if settings else None)
    if not new:
        _fail("the exported tests need the new app: pass --new-app or set GATEWAY_NEW_APP", 1)
    text = export.render(
        found[0],
        legacy_app=legacy,
        new_app=new,
        ledger=shown(ledger_url(url)),
        filename=output.name,
        database_variable=database_variable if include_writes else None,
    )
    try:
        output.parent.mkdir(parents=True, exist_ok=True)  # tests/parity/ on a first export
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        _fail(f"cannot write {output}: {exc.strerror or exc}", 1)
    typer.echo(f"{output}: {len(export.exchanges(found[0]))} tests for {route}")
