"""The route table agrees with each framework's own router: an entry written for
`/api/articles/{slug}` must not capture the literal `/api/articles/feed` unnoticed.

One tiny app per adapter, each with a literal rule and a variable one (two views), read through
the adapter as the gateway reads it.
"""

from __future__ import annotations

import types
import warnings
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route as StarletteRoute

from gateway.config.routes_file import parse_routes
from gateway.frameworks import LegacyRouter, find_router
from gateway.frameworks.agreement import PROBED_METHODS, RouterAgreement
from gateway.routing.table import RouteTable
from tests.frameworks.apps import load_app

SLUG_TO_NEW = "routes:\n  - {path: '/api/articles/{slug}', target: new}\n"
WITH_LITERAL = SLUG_TO_NEW + "  - {path: /api/articles/feed, target: legacy}\n"
FEED = "/api/articles/feed"


def table(text: str) -> RouteTable:
    return parse_routes(text.encode(), "routes.yaml")


def view(*args: Any, **kwargs: Any) -> str:
    return "ok"


def flask_router() -> LegacyRouter | None:
    app = Flask(__name__)
    app.add_url_rule(FEED, "feed", view)
    app.add_url_rule("/api/articles/<slug>", "article", view, methods=["GET", "PUT"])
    return find_router(app)


def bottle_router() -> LegacyRouter | None:
    bottle = pytest.importorskip("bottle")
    app = bottle.Bottle()
    app.route(FEED, "GET", view, name="feed")
    app.route("/api/articles/<slug>", "GET", view, name="article")
    return find_router(app)


def falcon_router() -> LegacyRouter | None:
    falcon = pytest.importorskip("falcon")

    class Feed:
        on_get = view

    class Article:
        on_get = view

    app = falcon.App()
    app.add_route(FEED, Feed())
    app.add_route("/api/articles/{slug}", Article())
    return find_router(app)


def pyramid_router() -> LegacyRouter | None:
    load_app("pyramid")  # imports Pyramid as its own app does, quieting WebOb's warning
    from pyramid.config import Configurator

    with warnings.catch_warnings(), Configurator() as config:
        warnings.simplefilter("ignore", DeprecationWarning)
        # Pyramid matches in the order routes are added: the literal first, or it is unreachable.
        config.add_route("feed", FEED)
        config.add_route("article", "/api/articles/{slug}")
        for name in ("feed", "article"):
            config.add_view(view, route_name=name, renderer="string")
        app = config.make_wsgi_app()
    return find_router(app)


def django_router() -> LegacyRouter | None:
    load_app("django")  # Django's settings, configured once per process by that app
    from django.urls import get_resolver, path

    from gateway.frameworks.django import DjangoRouter

    # A URLconf of its own: the adapter reads whichever resolver it is given.
    urls = types.ModuleType("conduit_urls")
    urls.urlpatterns = [  # type: ignore[attr-defined]
        path("api/articles/feed", view, name="feed"),
        path("api/articles/<slug:slug>", view, name="article"),
    ]
    return DjangoRouter(get_resolver(urls))


ROUTERS: dict[str, Callable[[], LegacyRouter | None]] = {
    "flask": flask_router,
    "django": django_router,
    "bottle": bottle_router,
    "falcon": falcon_router,
    "pyramid": pyramid_router,
}
# Falcon names a route by its resource's class.
NAMES = {"falcon": ("Feed", "Article")}
# Django and Pyramid leave methods to the view: every method is asked about.
METHODS = {"django": PROBED_METHODS, "pyramid": PROBED_METHODS}


@pytest.mark.parametrize("framework", list(ROUTERS))
def test_an_entry_capturing_a_literal_rule_is_found_and_a_literal_entry_cures_it(
    framework: str,
) -> None:
    router = ROUTERS[framework]()
    assert router is not None and router.framework == framework
    agreement = RouterAgreement(router, None)
    (conflict,) = agreement.conflicts(table(SLUG_TO_NEW))
    feed, article = NAMES.get(framework, ("feed", "article"))
    assert (conflict.side, conflict.path, conflict.template) == ("legacy", FEED, FEED)
    assert (conflict.captured, conflict.written_for) == (feed, article)
    methods = tuple(sorted(METHODS.get(framework, ("GET",))))
    assert conflict.methods == methods and conflict.fix == FEED
    message = conflict.message()
    assert f"captures {','.join(methods)} {FEED}" in message and f"{feed} ({FEED})" in message
    assert f"not to {article}" in message and f"add an entry for path {FEED}" in message
    assert agreement.conflicts(table(WITH_LITERAL)) == []


def test_starlette_as_the_new_side_is_checked_by_its_own_router() -> None:
    async def endpoint(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[
            StarletteRoute(FEED, endpoint, name="feed"),
            StarletteRoute("/api/articles/{slug}", endpoint, name="article"),
        ]
    )
    agreement = RouterAgreement(None, app.routes)
    (conflict,) = agreement.conflicts(table(SLUG_TO_NEW))
    assert (conflict.side, conflict.captured, conflict.written_for) == ("new", "feed", "article")
    assert agreement.conflicts(table(WITH_LITERAL)) == []


def test_a_more_specific_rule_is_cured_by_an_entry_for_its_template() -> None:
    app = Flask(__name__)
    app.add_url_rule("/a/<int:number>", "by_number", view)
    app.add_url_rule("/a/<name>", "by_name", view)
    agreement = RouterAgreement(find_router(app), None)
    (conflict,) = agreement.conflicts(table("routes:\n  - {path: '/a/{name}', target: new}\n"))
    assert (conflict.captured, conflict.written_for) == ("by_number", "by_name")
    assert (conflict.path, conflict.fix) == ("/a/1", "/a/{number:int}")
    cured = (
        "routes:\n  - {path: '/a/{name}', target: new}\n  - {path: '/a/{n:int}', target: legacy}\n"
    )
    assert agreement.conflicts(table(cured)) == []


@pytest.mark.parametrize(
    "routes",
    [
        pytest.param("routes:\n  - {path: '/api/articles/{slug}', target: legacy}\n", id="legacy"),
        pytest.param("routes:\n  - {path: '/api/{rest:path}', target: new}\n", id="pattern"),
        pytest.param(
            "routes:\n  - {path: '/api/articles/{slug}', target: new, methods: [PUT]}\n",
            id="other-method",
        ),
    ],
)
def test_what_is_not_a_capture(routes: str) -> None:
    # An entry left to legacy changes nothing for the view; a pattern written for no endpoint
    # means to capture several; a PUT entry cannot capture the feed's GET.
    assert RouterAgreement(flask_router(), None).conflicts(table(routes)) == []


def test_a_shadowed_entry_is_checked_for_its_copies_reach_the_new_side() -> None:
    routes = "routes:\n  - {path: '/api/articles/{slug}', target: legacy, shadow: true}\n"
    (conflict,) = RouterAgreement(flask_router(), None).conflicts(table(routes))
    assert conflict.captured == "feed"


def test_a_route_declared_after_the_one_that_takes_its_path_is_named_for_the_app_to_fix() -> None:
    async def endpoint(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    # Starlette matches in declaration order: this feed is unreachable, whatever the table says.
    app = Starlette(
        routes=[
            StarletteRoute("/api/articles/{slug}", endpoint, name="article"),
            StarletteRoute(FEED, endpoint, name="feed"),
        ]
    )
    routes = "routes:\n  - {path: /api/articles/feed, target: new}\n"
    (conflict,) = RouterAgreement(None, app.routes).conflicts(table(routes))
    assert (conflict.captured, conflict.written_for, conflict.fix) == ("article", "feed", None)
    assert "declare the route of feed before that of article" in conflict.message()
