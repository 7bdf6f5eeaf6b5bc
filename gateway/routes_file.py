"""Reading and validating the routes file (YAML) into a RouteTable.

Every problem found is reported, each naming the file, the entry (index and line) and what is
wrong, so an operator can fix a broken edit in one go. Nothing here touches the table in force:
callers swap a table in only once it has been built without error.

Whatever the file holds (binary garbage, a control character, an alias bomb, a FIFO or a folder
in its place), the outcome is a table or a RoutesFileError: nothing else escapes, so whoever
reloads can always say what went wrong. gateway.routes_yaml holds the YAML reading's bounds.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from gateway.endpoints import sample_path
from gateway.route_options import RouteOptions, Side
from gateway.routes_yaml import YamlProblems, load_yaml
from gateway.table import HTTP_METHODS, RouteEntry, RouteTable, TableError
from gateway.templates import TemplateError, parse_template

# Given an entry, what is wrong with it for the applications being served, or None.
EntryCheck = Callable[[RouteEntry], str | None]
_PROBED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# A table of 5,000 entries is about 300 KiB, and reading YAML costs about 4 s per MiB here (the
# round-trip loader is pure Python): a larger file is a mistake, or an attack on the reload.
MAX_FILE_BYTES = 1 << 20


class RoutesFileError(ValueError):
    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__("\n".join(f"{source}: {problem}" for problem in self.problems))


class RouteSpec(RouteOptions):
    """One entry of `routes`: where it applies (path, methods) and how it is served."""

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

    default: Side = "legacy"
    routes: list[RouteSpec] = []


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
    data, lines = _load_yaml(content, source)
    try:
        spec = RoutesSpec.model_validate(data)
    except ValidationError as exc:
        raise RoutesFileError(source, [_describe(error, lines) for error in exc.errors()]) from None
    entries = [
        RouteEntry(
            template=parse_template(route.path),
            methods=frozenset(route.methods) if route.methods is not None else None,
            options=RouteOptions.model_validate(
                route.model_dump(exclude={"path", "methods"}, exclude_unset=True)
            ),
            index=index,
            line=lines.get(index),
        )
        for index, route in enumerate(spec.routes)
    ]
    problems: list[str] = []
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


def _load_yaml(content: bytes, source: str) -> tuple[Any, dict[int, int]]:
    """The document, and the line of each entry of `routes` by index (1-based lines)."""
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
    return document.data, document.item_lines("routes")


def _describe(error: Any, lines: dict[int, int]) -> str:
    loc = list(error["loc"])
    where = ""
    if len(loc) >= 2 and loc[0] == "routes" and isinstance(loc[1], int):
        where = f"routes[{loc[1]}]"
        if loc[1] in lines:
            where += f" (line {lines[loc[1]]})"
        loc = loc[2:]
    field = ".".join(str(part) for part in loc)
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
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
    """Refuses `sticky: session:<key>` when the legacy app has no signed session to read."""

    def check(entry: RouteEntry) -> str | None:
        sticky = entry.options.sticky
        if sticky is None or sticky.kind != "session" or session_available:
            return None
        return (
            f"{entry.describe()}: sticky {str(sticky)!r} needs the legacy app ({app_name}) to be "
            "a Flask app with a secret key, whose signed session cookie the gateway can read"
        )

    return check
