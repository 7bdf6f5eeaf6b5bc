"""The static analysis of a Flask app's views, on a small package written for each case."""

from __future__ import annotations

import asyncio
import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate
from prometheus_client import CollectorRegistry

from gateway.config.routes_file import parse_routes
from gateway.control.reloading import LiveRouteTable
from gateway.guide.inventory import Catalogue, records
from gateway.guide.openapi import merged
from gateway.guide.service import Guide
from gateway.observe.metrics import GatewayMetrics
from gateway.routing.table import RouteTable

PACKAGE = {
    "__init__.py": """
        from flask import Flask

        def create_app():
            from shopapp import hooks, views

            app = Flask(__name__)
            app.before_request(hooks.load_user)
            app.register_blueprint(views.bp)
            return app
    """,
    "hooks.py": """
        from flask import g, request

        def load_user():
            g.user = request.headers.get("X-User")

        def audit(response):
            g.pop("started", None)
            return response
    """,
    "context.py": """
        import flask
        from flask import g as ctx, session

        CART_KEY = "cart"

        def user_id():
            return ctx.user.id

        def cart():
            return session.get(CART_KEY, [])

        def remember(item):
            session[CART_KEY] = [*cart(), item]

        def cached_prices():
            if "prices" not in flask.g:
                flask.g.prices = {}
            return flask.g.prices

        def named(name):
            return getattr(ctx, name)
    """,
    "model.py": """
        from flask import g

        class Item:
            def __init__(self, item_id):
                self.item_id = item_id

            def discounted(self):
                return self._rate() * g.coupon

            def _rate(self):
                return 1
    """,
    "views.py": """
        from flask import Blueprint, abort, request
        from werkzeug.exceptions import NotFound

        from . import context
        from .context import cart, remember as keep
        from shopapp.hooks import audit
        from shopapp.model import Item

        bp = Blueprint("shop", __name__, url_prefix="/shop")
        bp.after_request(audit)
        FORBIDDEN = 403
        HANDLERS = {}

        def forbid():
            abort(FORBIDDEN)

        @bp.get("/items/<int:item_id>")
        def item(item_id):
            \"\"\"One item, with the caller's cart.\"\"\"
            if item_id == 0:
                raise NotFound()
            return {"user": context.user_id(), "cart": cart()}

        @bp.post("/cart")
        def add():
            keep(request.json["id"])
            HANDLERS[request.args["kind"]]()
            return {}

        @bp.get("/prices")
        def prices():
            return {"prices": context.cached_prices(), "n": context.named(request.args["n"])}

        @bp.get("/discount/<path:code>")
        def discount(code):
            forbid()
            return {"value": Item(1).discounted()}
    """,
}


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    root = tmp_path_factory.mktemp("apps")
    package = root / "shopapp"
    package.mkdir()
    for name, source in PACKAGE.items():
        (package / name).write_text(textwrap.dedent(source), encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(root))
        app = importlib.import_module("shopapp").create_app()
        table = RouteTable([], default="legacy")
        inventory = records(Catalogue.build(app, None), table, None)
        yield {f"{row['method']} {row['path']}": row for row in inventory["endpoints"]}
        for name in [name for name in sys.modules if name.partition(".")[0] == "shopapp"]:
            del sys.modules[name]


def test_g_read_through_an_aliased_import_in_a_helper(shop: dict[str, dict[str, Any]]) -> None:
    item = shop["GET /shop/items/{item_id:int}"]
    assert item["g_reads"] == ["user"]
    assert item["session"] == {"reads": ["cart"], "writes": []}
    assert item["aborts"] == [404]  # raise NotFound()
    assert item["view"]["file"] == str(Path("shopapp") / "views.py")
    assert item["view"]["blueprint"] == "shop"


def test_hooks_of_the_app_and_of_the_blueprint(shop: dict[str, dict[str, Any]]) -> None:
    hooks = {(h["kind"], h["scope"], h["function"]): h for h in shop["POST /shop/cart"]["hooks"]}
    load_user = hooks[("before_request", "app", "shopapp.hooks:load_user")]
    assert load_user["g_writes"] == ["user"] and load_user["request"] == ["headers"]
    audit = hooks[("after_request", "blueprint shop", "shopapp.hooks:audit")]
    assert audit["g_writes"] == ["started"]


def test_session_writes_and_a_computed_call_are_reported(shop: dict[str, dict[str, Any]]) -> None:
    add = shop["POST /shop/cart"]
    assert add["session"] == {"reads": ["cart"], "writes": ["cart"]}  # a constant's value
    assert add["request"] == ["args", "json"]
    assert any("views.py" in place and "computed callable" in place for place in add["unresolved"])


def test_lazy_initialisation_writes_and_computed_names_are_unresolved(
    shop: dict[str, dict[str, Any]],
) -> None:
    prices = shop["GET /shop/prices"]
    assert prices["g_writes"] == ["prices"]
    assert prices["g_reads"] == []  # read back after it set it itself
    assert any("g name computed at run time" in place for place in prices["unresolved"])


def test_methods_constants_and_the_order(shop: dict[str, dict[str, Any]]) -> None:
    discount = shop["GET /shop/discount/{code:path}"]
    assert discount["g_reads"] == ["coupon"]  # Item(1).discounted(), followed by name
    assert discount["aborts"] == [403]  # abort(FORBIDDEN)
    orders = sorted(row["order"] for row in shop.values() if row["order"] is not None)
    assert orders == list(range(1, len(shop) + 1))


DEEP = {
    "__init__.py": """
        from flask import Flask, g

        from deepapp import sums

        app = Flask(__name__)

        @app.get("/total")
        def total():
            g.seen = True
            return {"total": sums.total(1)}
    """,
    # Python imports this; `ast`'s recursive visitor cannot walk the expression.
    "sums.py": "def total(a):\n    return " + " + ".join(["a"] * 500) + "\n",
}


@pytest.fixture
def deep_app(tmp_path: Path) -> Iterator[tuple[Any, Path]]:
    package = tmp_path / "deepapp"
    package.mkdir()
    for name, source in DEEP.items():
        (package / name).write_text(textwrap.dedent(source), encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(tmp_path))
        try:
            yield importlib.import_module("deepapp").app, package
        finally:
            for name in [name for name in sys.modules if name.partition(".")[0] == "deepapp"]:
                del sys.modules[name]


def test_a_module_too_deep_to_walk_is_skipped_with_one_warning(
    deep_app: tuple[Any, Path], caplog: pytest.LogCaptureFixture
) -> None:
    app, package = deep_app
    with caplog.at_level("WARNING", logger="gateway"):
        catalogue = Catalogue.build(app, None)
    table = RouteTable([], default="legacy")
    total = {row["path"]: row for row in records(catalogue, table, None)["endpoints"]}["/total"]
    assert total["g_writes"] == ["seen"]  # the view itself is still read
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [f"the guide does not follow {package / 'sums.py'} (RecursionError)"]
    validate(merged(catalogue, table, None, None))


def test_the_admin_guide_answers_for_a_module_too_deep_to_walk(
    deep_app: tuple[Any, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text("default: legacy\nroutes: []\n", encoding="utf-8")
    registry = CollectorRegistry()
    live = LiveRouteTable(routes, parse_routes, GatewayMetrics(registry))
    guide = Guide(legacy_app=deep_app[0], new_app=None, live=live, registry=registry)

    async def both() -> tuple[dict[str, Any], dict[str, Any]]:
        return await guide.inventory(), await guide.openapi()

    with caplog.at_level("WARNING", logger="gateway"):
        inventory, document = asyncio.run(both())  # GuideUnavailable (a 503) before
    # (sorted: Flask 2.0 lists its static rule after the app's own)
    paths = sorted(row["path"] for row in inventory["endpoints"])
    assert paths == ["/static/{filename:path}", "/total"]
    validate(document)
    assert len([r for r in caplog.records if r.levelname in ("WARNING", "ERROR")]) == 1
