"""The inventory sees through the common Flask extensions, on a blog using the real ones."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from gateway.guide.inventory import Catalogue, records
from gateway.guide.openapi import merged
from gateway.routing.table import RouteTable
from tests.guide.extension_app import extension_app

Rows = dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def blog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Catalogue, Rows]]:
    with extension_app(tmp_path_factory.mktemp("apps")) as app:
        catalogue = Catalogue.build(app, None)
    inventory = records(catalogue, RouteTable([], default="legacy"), None)
    yield catalogue, {f"{row['method']} {row['path']}": row for row in inventory["endpoints"]}


@pytest.fixture(scope="module")
def rows(blog: tuple[Catalogue, Rows]) -> Rows:
    return blog[1]


def hooks(row: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {hook["function"]: hook for hook in row["hooks"] if hook["kind"] == kind}


def test_flask_login_on_a_protected_view_and_its_templates(rows: Rows) -> None:
    for path in ("/", "/index"):  # one view, two rules
        index = rows[f"GET {path}"]
        assert index["extensions"]["flask_login"] == [
            "current_user",  # in base.html, through Flask-Login's context processor
            "login_required",
            "remember cookie",  # its after_request hook
            "user_loader",
        ]
        assert {"_user_id", "_remember"} <= set(index["session"]["reads"])
        assert 401 in index["aborts"]  # login_required without a login view
        processors = hooks(index, "context_processor")  # it renders a template
        assert processors["flask_login.utils:_user_context_processor"]["extensions"] == {
            "flask_login": ["current_user"]
        }
        loaders = hooks(index, "user_loader")
        assert list(loaders) == ["blogapp:create_app.<locals>.load_user"]


def test_a_login_check_in_a_hook_puts_flask_login_on_the_view(rows: Rows) -> None:
    stats = rows["GET /admin/stats"]
    # check_perms (the blueprint's before_request) reads current_user: the view's session is
    # read for the user, and the app's user loader runs.
    assert {"_user_id", "_remember"} <= set(stats["session"]["reads"])
    assert "current_user" in stats["extensions"]["flask_login"]
    assert list(hooks(stats, "user_loader")) == ["blogapp:create_app.<locals>.load_user"]
    assert stats["returns"] == [201]


def test_a_local_proxy_of_the_package_is_followed(rows: Rows) -> None:
    member = rows["GET /admin/member"]
    assert member["session"]["reads"] == ["_member_id", "_remember", "_user_id"]
    assert member["g_writes"] == ["_member"]


def test_templates_read_g_session_and_flashes(rows: Rows) -> None:
    index = rows["GET /index"]
    assert index["templates"] == ["index.html"]
    # base.html, extended by index.html: g.locale and g.search_form, which a hook writes.
    assert index["g_reads"] == ["locale", "search_form"]
    writer = hooks(index, "before_request")["blogapp.views:before_request"]
    assert writer["g_writes"] == ["locale", "search_form"]
    assert {"_flashes", "last_seen"} <= set(index["session"]["reads"])
    assert index["extensions"]["flask_babel"] == ["_", "get_locale"]  # `_()` in base.html
    selector = hooks(index, "locale_selector")["blogapp.locale:get_locale"]
    assert selector["request"] == ["accept_languages"]


def test_login_user_flash_forms_and_get_or_404(rows: Rows) -> None:
    login = rows["POST /login"]
    writes = set(login["session"]["writes"])
    assert {"_user_id", "_fresh", "_id", "_flashes", "csrf_token"} <= writes
    assert login["extensions"]["flask_login"] == [
        "current_user",
        "login_user",
        "remember cookie",
        "user_loader",
    ]
    assert "csrf_protect" in login["extensions"]["flask_wtf"]  # CSRFProtect's hook
    assert 404 in login["aborts"]  # User.query.get_or_404(1)
    logout = rows["GET /logout"]
    assert "_user_id" in logout["session"]["writes"]
    assert "logout_user" in logout["extensions"]["flask_login"]


def test_csrf_and_remember_cookie_hooks_are_known(rows: Rows) -> None:
    user = rows["GET /user/{name}"]
    csrf = hooks(user, "before_request")[
        "flask_wtf.csrf:CSRFProtect.init_app.<locals>.csrf_protect"
    ]
    assert csrf["session"]["reads"] == ["csrf_token"] and csrf["aborts"] == [400]
    remember = hooks(user, "after_request")[
        "flask_login.login_manager:LoginManager._update_remember_cookie"
    ]
    assert remember["extensions"] == {"flask_login": ["remember cookie"]}
    assert remember["session"]["writes"] == ["_remember"]


def test_http_auth_and_jwt_decorators_give_their_statuses(rows: Rows) -> None:
    tokens = rows["GET /api/tokens"]
    assert tokens["extensions"]["flask_httpauth"] == ["current_user", "login_required"]
    assert tokens["aborts"] == [401, 403]
    user = rows["PUT /api/user"]
    assert user["extensions"]["flask_jwt_extended"] == [
        "current_user",
        "jwt_required",
        "user_lookup_loader",  # the app's loader, registered by decorator
    ]
    assert user["aborts"] == [401, 422]
    assert user["coupling"] > 0
    assert user["extensions"]["webargs"] == ["use_kwargs"]  # not known: listed by name
    assert "json" in user["request"]  # where use_kwargs reads the body from


def test_handled_exceptions_from_classmethod_factories(rows: Rows) -> None:
    article = rows["GET /api/articles/{slug}"]
    # InvalidUsage.article_not_found() -> cls(**ARTICLE_NOT_FOUND) -> template(..., code=404),
    # handled by an errorhandler; Unhandled (418) has no handler, so it is a 500, not listed.
    assert article["aborts"] == [404]
    assert article["unresolved"] == []  # `cls(...)` in the factory is the class


def test_decorator_factories_loops_url_preprocessors_and_globals(rows: Rows) -> None:
    for colour in ("red", "blue"):
        palette = rows[f"GET /palette/{colour}"]
        assert palette["g_writes"] == ["tag"]  # the wrapper, built without functools.wraps
        assert palette["session"]["reads"] == ["favourite"]  # the view its closure holds
        assert hooks(palette, "url_value_preprocessor")["blogapp.views:pull_colour"][
            "g_writes"
        ] == ["colour"]
    index = rows["GET /index"]
    # g.theme is a property of the app's app_ctx_globals_class, which reads the session.
    assert "theme" not in index["g_reads"] and "theme" in index["session"]["reads"]


def test_the_blog_merges_into_a_valid_openapi_document(blog: tuple[Catalogue, Rows]) -> None:
    catalogue, _ = blog
    document = merged(catalogue, RouteTable([], default="legacy"), None, None)
    validate(document)  # unique operationIds included
    ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
    index, root = document["paths"]["/index"]["get"], document["paths"]["/"]["get"]
    assert {index["operationId"], root["operationId"]} == {
        "legacy_main_index_GET",
        "legacy_main_index_GET_index",
    }
    assert "401" in root["responses"]
    article = document["paths"]["/api/articles/{slug}"]["get"]
    assert "404" in article["responses"]
    body = document["paths"]["/api/user"]["put"]["requestBody"]
    assert body["content"]["application/json"]["schema"] == {
        "type": "object",
        "properties": {"email": {"type": "string"}, "bio": {"type": "string"}},
    }
    comment = document["paths"]["/api/comments"]["post"]["requestBody"]
    schema = comment["content"]["application/json"]["schema"]
    assert schema["required"] == ["body"] and schema["properties"]["draft"]["type"] == "boolean"


def test_login_required_redirects_where_the_app_has_a_login_view(tmp_path: Path) -> None:
    with extension_app(tmp_path) as app:
        app.login_manager.login_view = "main.login"
        catalogue = Catalogue.build(app, None)
    inventory = records(catalogue, RouteTable([], default="legacy"), None)
    index = next(row for row in inventory["endpoints"] if row["path"] == "/index")
    assert 401 not in index["aborts"] and index["returns"] == [302]
