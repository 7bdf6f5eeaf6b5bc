"""Reading and validating the routes file (YAML) into a RouteTable.

Every problem found is reported, each naming the file, the entry (index and line) and what is
wrong, so an operator can fix a broken edit in one go. Nothing here touches the table in force:
callers swap a table in only once it has been built without error.

Whatever the file holds (binary garbage, a control character, an alias bomb, a FIFO or a folder
in its place), the outcome is a table or a RoutesFileError: nothing else escapes, so whoever
reloads can always say what went wrong. gateway.config.routes_yaml holds the YAML reading's bounds.

`defaults:` holds option blocks that entries inherit (gateway.config.entry_defaults). They are
applied here, while the table is built, and never written into the file: the file stays as its
authors (and the rollout controller, which edits entries in place) wrote it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from gateway.behaviours.registry import BEHAVIOURS, TARGETS, entry_options
from gateway.config.entry_defaults import Defaults, apply_defaults, defaults_problems
from gateway.config.routes_yaml import YamlDocument, YamlProblems, load_yaml
from gateway.options.rollout import RolloutStatus
from gateway.routing.endpoints import sample_path
from gateway.routing.methods import HTTP_METHODS
from gateway.routing.table import RouteEntry, RouteTable, TableError
from gateway.routing.templates import TemplateError, parse_template
from gateway.side_names import LEGACY, SideName
from gateway.sides.absent import NOT_SET

# Given an entry, what is wrong with it for the applications being served, or None.
EntryCheck = Callable[[RouteEntry], str | None]
_PROBED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_WHERE = ("path", "methods")
_STATUS = "status"  # kept beside the options (RouteEntry.status), not among them
# Every option some target accepts: naming one on another target is a misplaced option, not a
# typo, and is said so.
_OPTION_NAMES = frozenset(
    name for behaviour in BEHAVIOURS.values() for name in behaviour.options.model_fields
)
# A table of 5,000 entries is about 300 KiB, and reading YAML costs about 4 s per MiB here (the
# round-trip loader is pure Python): a larger file is a mistake, or an attack on the reload.
MAX_FILE_BYTES = 1 << 20


class RoutesFileError(ValueError):
    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__("\n".join(f"{source}: {problem}" for problem in self.problems))


class RouteSpec(BaseModel):
    """Where one entry of `routes` applies; how it is served is its target's (its options)."""

    model_config = ConfigDict(frozen=True)

    path: str
    methods: tuple[str, ...] | None = None

    @field_validator("path")
    @classmethod
    def _path_is_a_template(cls, value: str) -> str:
        try:
            parse_template(value)
        except TemplateError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("methods")
    @classmethod
    def _methods_are_known(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("must list at least one method, or be left out for every method")
        methods = tuple(method.upper() for method in value)
        unknown = sorted(set(methods) - HTTP_METHODS)
        if unknown:
            raise ValueError(f"unknown HTTP method(s) {', '.join(unknown)}")
        return methods


class RoutesSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    default: SideName = LEGACY
    defaults: Defaults = Defaults()
    routes: list[dict[str, Any]] = []

    @field_validator("defaults", mode="before")
    @classmethod
    def _no_defaults(cls, value: Any) -> Any:
        # `defaults:` with every line below it commented out (YAML's null): none.
        if value is None:
            return Defaults()
        if not isinstance(value, dict | Defaults):
            raise ValueError("must be a mapping of option blocks (shadow, guard, canary)")
        return value


def read_routes_file(path: Path) -> bytes:
    """The file's bytes, or RoutesFileError; never blocks (a FIFO in its place is refused)."""
    source = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise RoutesFileError(source, ["file not found"]) from None
    except OSError as exc:
        raise RoutesFileError(source, [f"cannot read: {exc.strerror}"]) from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise RoutesFileError(source, ["is a directory, not a routes file"])
        if not stat.S_ISREG(mode):
            raise RoutesFileError(source, ["is not a regular file"])
        content = _read_at_most(fd, MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise RoutesFileError(source, [f"cannot read: {exc.strerror}"]) from None
    finally:
        os.close(fd)
    _check_size(content, source)
    return content


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    while limit > 0 and (chunk := os.read(fd, limit)):  # a read may return less than asked
        chunks.append(chunk)
        limit -= len(chunk)
    return b"".join(chunks)


def _check_size(content: bytes, source: str) -> None:
    if len(content) > MAX_FILE_BYTES:
        raise RoutesFileError(
            source, [f"larger than {MAX_FILE_BYTES >> 20} MiB, the most a routes file may hold"]
        )


def parse_routes(content: bytes, source: str, checks: Sequence[EntryCheck] = ()) -> RouteTable:
    """Build a RouteTable from the routes file's bytes, or raise RoutesFileError.

    `checks` look at each valid entry against the applications being served (does the new app
    have this route?) and return a problem to report, or None.
    """
    document = _load_yaml(content, source)
    data, lines = document.data, document.item_lines("routes")
    try:
        spec = RoutesSpec.model_validate(data)
    except ValidationError as exc:
        problems = [_describe(error["loc"], error, lines, document) for error in exc.errors()]
        raise RoutesFileError(source, problems) from None
    problems = []
    defaults = spec.defaults
    for location, error in defaults_problems(defaults):
        problems.append(_describe(("defaults", *location), error, lines, document))
        # A broken block is reported once, here, not again in every entry that inherits it.
        defaults = defaults.model_copy(update={str(location[0]): {}})
    entries = []
    for index, raw in enumerate(spec.routes):
        entry = _entry(index, raw, lines, problems, defaults)
        if entry is not None:
            entries.append(entry)
    if problems:  # every entry's problems at once, before the table's own
        raise RoutesFileError(source, problems)
    try:
        table = RouteTable(entries, spec.default)
    except TableError as exc:
        problems.extend(exc.problems)
    problems.extend(
        problem for entry in entries for check in checks if (problem := check(entry)) is not None
    )
    if problems:
        raise RoutesFileError(source, problems)
    return table


def _load_yaml(content: bytes, source: str) -> YamlDocument:
    """The document, whose top level is a mapping."""
    _check_size(content, source)
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = content.count(b"\n", 0, exc.start) + 1
        raise RoutesFileError(source, [f"line {line}: not UTF-8 text (byte {exc.start})"]) from None
    try:
        document = load_yaml(text)
    except YamlProblems as exc:
        raise RoutesFileError(source, exc.problems) from None
    if not isinstance(document.data, dict):
        raise RoutesFileError(
            source, ["expected a mapping with 'default' and 'routes' at the top level"]
        )
    return document


def _entry(
    index: int,
    raw: dict[str, Any],
    lines: dict[int, int],
    problems: list[str],
    defaults: Defaults,
) -> RouteEntry | None:
    """Entry `index` of `routes`, or None with its problems added to `problems`.

    Its path and methods are validated here, the rest (with the defaults it inherits) by the
    options model of the target it names (gateway.behaviours.registry).
    """
    where = {key: raw[key] for key in _WHERE if key in raw}
    given = apply_defaults(
        {key: value for key, value in raw.items() if key not in (*_WHERE, _STATUS)}, defaults
    )
    found: list[str] = []
    route = options = status = None
    try:
        route = RouteSpec.model_validate(where)
    except ValidationError as exc:
        found += [_describe(("routes", index, *e["loc"]), e, lines) for e in exc.errors()]
    try:
        status = _status(raw.get(_STATUS))
    except ValidationError as exc:
        found += [_describe(("routes", index, _STATUS, *e["loc"]), e, lines) for e in exc.errors()]
    try:
        options = entry_options(given)
    except ValidationError as exc:
        target = given.get("target")
        for raw_error in exc.errors():
            error = _option_error(raw_error, target)
            loc = list(error["loc"])
            if loc and loc[0] == target:  # pydantic puts the union's tag first
                loc = loc[1:]
            found.append(_describe(("routes", index, *loc), error, lines))
    problems.extend(found)
    if route is None or options is None:
        return None
    return RouteEntry(
        template=parse_template(route.path),
        methods=frozenset(route.methods) if route.methods is not None else None,
        options=options,
        index=index,
        line=lines.get(index),
        status=status,
    )


def _status(value: Any) -> RolloutStatus | None:
    return None if value is None else RolloutStatus.model_validate(value)


def _option_error(error: Any, target: object) -> Any:
    """pydantic's error about an entry's options, said in the routes file's terms."""
    kind = error["type"]
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        known = [f"'{name}'" for name in TARGETS]
        expected = ", ".join(known[:-1]) + " or " + known[-1]
        return {**error, "loc": ("target",), "msg": f"Input should be {expected}"}
    if kind == "extra_forbidden" and error["loc"][-1] in _OPTION_NAMES:
        return {
            **error,
            "msg": f"{error['loc'][-1]} cannot be used with target {target!r}",
            "loc": (),
        }
    return error


def _describe(
    location: Sequence[Any],
    error: Any,
    lines: dict[int, int],
    document: YamlDocument | None = None,
) -> str:
    loc = list(location)
    where = ""
    if len(loc) >= 2 and loc[0] == "routes" and isinstance(loc[1], int):
        where = f"routes[{loc[1]}]"
        if loc[1] in lines:
            where += f" (line {lines[loc[1]]})"
        loc = loc[2:]
    elif loc and loc[0] == "defaults":
        line = document.key_line(*(str(part) for part in loc)) if document else None
        where = "defaults" + (f" (line {line})" if line is not None else "")
        loc = loc[1:]
    field = ".".join(str(part) for part in loc)
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden" and "cannot be used" not in message:
        message = "unknown key"
    return ": ".join(part for part in (where, field, message) if part)


def new_side_check(serves: Callable[[str, str], bool], app_name: str) -> EntryCheck:
    """An EntryCheck asking `serves(path, method)` about entries the new side answers or shadows."""

    def check(entry: RouteEntry) -> str | None:
        if not entry.options.reaches_new:
            return None
        path = sample_path(entry.template)
        if entry.methods is None:
            if any(serves(path, method) for method in _PROBED_METHODS):
                return None
            missing = "any method"
        else:
            absent = [m for m in sorted(entry.methods) if not serves(path, _probe_method(m))]
            if not absent:
                return None
            missing = ", ".join(absent)
        return (
            f"{entry.describe()} targets {entry.target!r} but the new app ({app_name}) has no "
            f"route for {missing} {path}"
        )

    return check


def _probe_method(method: str) -> str:
    # HEAD is answered wherever GET is; OPTIONS is often handled by middleware, not routes.
    return "GET" if method in ("HEAD", "OPTIONS") else method


def session_sticky_check(session_available: bool, app_name: str) -> EntryCheck:
    """Refuses entries that decide on the legacy app's session (`sticky: session:<key>`, a
    `session` rule) when the legacy app has no signed session to read."""

    def check(entry: RouteEntry) -> str | None:
        if not entry.options.reads_session or session_available:
            return None
        return (
            f"{entry.describe()}: target {entry.target!r} reads the session, which needs the "
            f"legacy app ({app_name}) to be a Flask app with a secret key, whose signed session "
            "cookie the gateway can read"
        )

    return check


def legacy_only_check() -> EntryCheck:
    """Refuses every entry that would reach the new side: there is none."""

    def check(entry: RouteEntry) -> str | None:
        if not entry.options.reaches_new:
            return None
        return (
            f"{entry.describe()} targets {entry.target!r} but {NOT_SET}: every entry must be legacy"
        )

    return check
