"""The table agrees with each side's own router on every path the gateway lets through.

The property (a differential test): for any raw request path, if the gateway does not refuse
it, and the side's router maps the canonical path to an endpoint whose template is in the
table, then the table matches that path to that very entry. Otherwise a spelling of the path
could miss the entry (say `{id:int}` sent to the new side) and reach the legacy view through
the table's default: a bypass of new, canary, shadow and guard alike.
"""

from __future__ import annotations

import functools
import os
import re
from urllib.parse import quote_from_bytes, unquote

import pytest
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.routing import BaseRoute, Match
from werkzeug.routing import Rule

from gateway.behaviours.registry import entry_options
from gateway.frameworks import find_router
from gateway.routing.endpoints import RouteNamer, starlette_endpoints
from gateway.routing.paths import PathRejected, canonicalize
from gateway.routing.table import RouteEntry, RouteTable
from gateway.routing.templates import TemplateError, parse_template
from tests.frameworks.apps import FRAMEWORKS, load_app

settings.register_profile("ci", derandomize=True, deadline=None, max_examples=400)
settings.register_profile("dev", deadline=None, max_examples=400)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def _converters_app() -> Flask:
    """Every converter Werkzeug ships, each beside a literal sibling that must win over it."""
    app = Flask(__name__)
    rules = [
        "/n/<int:x>",
        "/n/export",
        "/s/<x>",
        "/s/<int:x>/y",
        "/u/<uuid:x>",
        "/p/<path:x>",
        "/f/<float:x>",
        "/a/<any(one,two):x>",
        "/t/<x>/",
    ]
    for index, rule in enumerate(rules):
        app.add_url_rule(rule, f"view{index}", lambda **_: "")
    return app


def _table_of(templates: set[str]) -> RouteTable:
    options = entry_options({"target": "legacy"})
    entries = [
        RouteEntry(parse_template(template), frozenset({"GET"}), options, index)
        for index, template in enumerate(sorted(templates))
    ]
    return RouteTable(entries)


# Segments that look like what each converter takes, spelled every way a client could.
DIGITS = ["1", "42", "007", "\u0661", "\uff11", "\u0967", "\u00b2", "1\u0662", "\u2460"]
WORDS = ["n", "s", "u", "p", "f", "a", "t", "y", "export", "one", "two", "api", "tickets"]
WORDS += ["me", "users", "comments", "health", "export.csv", "Export", "a b", "caf\u00e9"]
OTHER = ["", ".", "..", "1.5", "\u0661.\u0662", "-1", "+1", "0x1", "1_000", " 1", "1 "]
OTHER += [
    "00000000-0000-0000-0000-000000000001",
    "00000000000000000000000000000001",
    "\u2028",
    "\u0085",
    "\u202e",
    "\x00",
    "\\",
]


VALUES = DIGITS + WORDS + OTHER
_PARAMETER = re.compile(r"\{[^}]*\}")


@st.composite
def raw_paths(draw: st.DrawFn, templates: list[str]) -> bytes:
    """A path shaped like one of `templates`, its parameters filled with awkward values.

    Shaped like the routers' own templates so that most paths reach an endpoint: random
    segments alone almost never do, and a property that is never exercised proves nothing.
    """
    if draw(st.booleans()):
        template = draw(st.sampled_from(templates))
        segments = [
            draw(st.sampled_from(VALUES)) if _PARAMETER.fullmatch(part) else part
            for part in template[1:].split("/")
        ]
    else:
        segments = draw(st.lists(st.sampled_from(VALUES), min_size=1, max_size=4))
    pieces = []
    for segment in segments:
        data = segment.encode("utf-8")
        # Each segment sent raw, fully percent-encoded, or encoded only where it must be.
        spelling = draw(st.sampled_from(["raw", "quoted", "all"]))
        if spelling == "quoted":
            data = quote_from_bytes(data, safe="").encode("ascii")
        elif spelling == "all":
            data = "".join(f"%{byte:02X}" for byte in data).encode("ascii")
        pieces.append(data)
    separator = draw(st.sampled_from([b"/", b"//"]))
    return b"/" + separator.join(pieces)


def _starlette_template(routes: list[BaseRoute], path: str) -> str | None:
    scope = {"type": "http", "path": path, "root_path": "", "method": "GET", "headers": []}
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return str(getattr(route, "path", ""))
    return None


def _agrees(table: RouteTable, templates: set[str], raw: bytes, template: str | None) -> None:
    if template is None or template not in templates:
        return
    path = canonicalize(raw).path
    entry = table.match(path, "GET")
    assert entry is not None, f"{raw!r} reaches {template} on the side, misses the table"
    assert entry.path == template, f"{raw!r}: the side serves {template}, the table {entry.path}"


@functools.cache
def _helpdesk_case() -> tuple[RouteNamer, RouteTable, set[str]]:
    from legacy_app import create_app

    return _router_case(create_app())


@given(data=st.data())
def test_the_legacy_example_agrees_with_the_table(data: st.DataObject) -> None:
    name, table, templates = _helpdesk_case()
    raw = data.draw(raw_paths(sorted(templates)))
    try:
        path = canonicalize(raw).path
    except PathRejected:
        return
    _agrees(table, templates, raw, name(path, "GET"))


@given(data=st.data())
def test_the_new_example_agrees_with_the_table(data: st.DataObject) -> None:
    from new_app.main import app

    routes = app.router.routes
    templates = {endpoint.template for endpoint in starlette_endpoints(routes)}
    raw = data.draw(raw_paths(sorted(templates)))
    try:
        path = canonicalize(raw).path
    except PathRejected:
        return
    _agrees(_table_of(templates), templates, raw, _starlette_template(routes, path))


@functools.cache
def _adapter_case(framework: str) -> tuple[RouteNamer, RouteTable, set[str]]:
    """A framework's router as its adapter reads it, and a table of its routes' templates."""
    return _router_case(_converters_app() if framework == "flask" else load_app(framework))


def _router_case(app: object) -> tuple[RouteNamer, RouteTable, set[str]]:
    router = find_router(app)
    assert router is not None, app
    templates = set()
    for route in router.routes():
        try:
            parse_template(route.template)
        except TemplateError:
            continue  # a route the table cannot hold (e.g. a parameter inside a segment)
        templates.add(route.template)
    return router.namer(), _table_of(templates), templates


@pytest.mark.parametrize("framework", ["flask", *FRAMEWORKS])
@given(data=st.data())
def test_every_adapters_converters_agree_with_the_table(
    framework: str, data: st.DataObject
) -> None:
    name, table, templates = _adapter_case(framework)
    raw = data.draw(raw_paths(sorted(templates)))
    try:
        path = canonicalize(raw).path
    except PathRejected:
        return
    _agrees(table, templates, raw, name(path, "GET"))


@pytest.mark.parametrize("framework", ["flask", *FRAMEWORKS])
def test_every_adapter_agrees_on_every_awkward_value(framework: str) -> None:
    """Exhaustive where the property test samples: each template, its parameters all filled
    with each value, sent raw and percent-encoded (a rare value like "-1" is never missed)."""
    name, table, templates = _adapter_case(framework)
    for template in sorted(templates):
        for value in VALUES:
            for encoded in (value, quote_from_bytes(value.encode("utf-8"), safe="")):
                raw = _PARAMETER.sub(encoded.replace("\\", "\\\\"), template).encode("utf-8")
                try:
                    path = canonicalize(raw).path
                except PathRejected:
                    continue
                _agrees(table, templates, raw, name(path, "GET"))


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"/n/%D9%A1", id="arabic-indic"),
        pytest.param(b"/n/%EF%BC%91", id="fullwidth"),
        pytest.param(b"/n/%E0%A5%A7", id="devanagari"),
        pytest.param(b"/n/1%D9%A2", id="mixed"),
    ],
)
def test_unicode_digits_werkzeug_would_take_are_refused(raw: bytes) -> None:
    _, table, _ = _adapter_case("flask")
    # Why they are refused: Werkzeug serves them as numbers, and the table matches no entry.
    decoded = unquote(raw.decode("ascii"))
    adapter = _converters_app().url_map.bind("localhost")
    rule, _ = adapter.match(decoded, method="GET", return_rule=True)
    assert isinstance(rule, Rule) and rule.rule == "/n/<int:x>"
    assert table.match(decoded, "GET") is None
    with pytest.raises(PathRejected, match="digit other than 0-9"):
        canonicalize(raw)
