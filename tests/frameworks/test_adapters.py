"""Each framework adapter lists its app's routes and names the route of a concrete path."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest
from flask import Flask

from gateway.frameworks import LEGACY_DEFAULT_ROUTE, find_router, legacy_namer
from gateway.frameworks.router import cached_namer, may_span_segments, sample_of
from tests.frameworks.apps import load_app


class Middleware:
    """A WSGI middleware that keeps the app it wraps as `.app`, as most do."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        result: Iterable[bytes] = self.app(environ, start_response)
        return result


# framework -> (listed (methods, template) pairs, {(path, method): expected name})
CASES: dict[str, tuple[set[tuple[str, str]], dict[tuple[str, str], str | None]]] = {
    "django": (
        {("DELETE,GET", "/api/items/{item_id:int}"), ("*", "/archive/{year}/")},
        {
            ("/api/items/3", "DELETE"): "/api/items/{item_id:int}",
            ("/api/items/-3", "GET"): None,
            ("/u/00000000-0000-0000-0000-000000000001", "GET"): "/u/{key:uuid}",
            ("/archive/24/", "GET"): None,
        },
    ),
    "bottle": (
        {("GET", "/api/items/{item_id}"), ("POST", "/api/items"), ("*", "/s/{name}/")},
        {
            ("/api/items/-3", "GET"): "/api/items/{item_id}",
            ("/api/items/3", "PUT"): None,  # 405
            ("/f/1.5", "GET"): "/f/{x}",
            ("/r/abcd", "GET"): None,
            ("/s/x/", "PATCH"): "/s/{name}/",
        },
    ),
    "falcon": (
        {("DELETE,GET", "/api/items/{item_id}"), ("DELETE,GET", "/u/{key}")},
        {
            ("/api/items/+3", "GET"): "/api/items/{item_id}",
            ("/files/a/b", "GET"): "/files/{name:path}",
            ("/nope", "GET"): None,
        },
    ),
    "pyramid": (
        {("GET,POST", "/api/items"), ("*", "/api/items/{item_id:int}")},
        {
            ("/api/items", "DELETE"): None,  # its request_method predicate refuses it
            ("/api/items/3", "GET"): "/api/items/{item_id:int}",
            ("/files/a/b", "GET"): "/files/{subpath:path}",
        },
    ),
}


@pytest.mark.parametrize("framework", sorted(CASES))
def test_an_adapter_lists_routes_and_names_paths(framework: str) -> None:
    app = load_app(framework)
    listed_expected, named = CASES[framework]
    router = find_router(Middleware(Middleware(app)))
    assert router is not None and router.framework == framework
    listed = {(",".join(sorted(r.methods)), r.template) for r in router.routes()}
    assert listed_expected <= listed
    name = router.namer()
    assert name("/health", "GET") == "/health"
    assert name("/api/items/export", "GET") == "/api/items/export"  # the literal wins
    assert name("/no/such/page", "GET") is None
    for (path, method), expected in named.items():
        assert name(path, method) == expected, (path, method)


def test_flask_routes_carry_the_view_blueprint_and_typed_parameters() -> None:
    app = Flask(__name__)
    app.add_url_rule("/n/<int:n>", "n", lambda n: "")
    app.add_url_rule("/s/<int(signed=True):n>", "s", lambda n: "")
    app.add_url_rule("/a/<any(one,two):x>", "a", lambda x: "")
    router = find_router(app)
    assert router is not None and router.framework == "flask"
    routes = {route.name: route for route in router.routes()}
    assert routes["n"].template == "/n/{n:int}"
    assert routes["n"].view is app.view_functions["n"]
    assert routes["n"].parameters[0].schema() == {"type": "integer", "minimum": 0}
    # A signed int takes "-1", which the table's {x:int} refuses: a plain segment then.
    assert routes["s"].template == "/s/{n}"
    assert router.namer()("/s/-1", "GET") == "/s/{n}"
    assert routes["a"].parameters[0].schema() == {"type": "string", "enum": ["one", "two"]}


def test_an_unreadable_app_is_labelled_legacy_default() -> None:
    def bare(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        return []

    assert find_router(bare) is None
    assert legacy_namer(bare)("/anything", "GET") == LEGACY_DEFAULT_ROUTE


def test_a_router_that_raises_names_nothing_it_cannot_read() -> None:
    def broken(path: str, method: str) -> str | None:
        raise RuntimeError("router failed")

    assert cached_namer(broken)("/x", "GET") == LEGACY_DEFAULT_ROUTE


@pytest.mark.parametrize(
    ("pattern", "spans"),
    [("[^/]+", False), ("[a-z]{3}", False), (".+", True), (".*", True), ("[a-z/]+", True)],
)
def test_a_parameter_that_can_hold_a_slash_is_a_path(pattern: str, spans: bool) -> None:
    assert may_span_segments(pattern) is spans


def test_samples_fill_parameters_with_values_they_take() -> None:
    assert sample_of("/a/{x:int}/{u:uuid}/{p:path}") == (
        "/a/1/00000000-0000-0000-0000-000000000001/1"
    )
