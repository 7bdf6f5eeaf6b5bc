"""archivy 1.7.7 (Flask 2.3, Flask-Login 0.6.2, Flask-WTF) behind the gateway.

Installed from PyPI with its own pins, the gateway beside it (tests/corpus/conftest.py). One
archivy data folder (a user, a note) is served twice for the whole module: alone by gunicorn and
through `gateway serve`, with a FastAPI app beside it (archivy_new_app.py) that reads archivy's
login through `gateway.compat.flask.LegacyState`.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from openapi_spec_validator import validate

from tests.corpus import serving
from tests.corpus.comparing import Call, differences, scrubber
from tests.corpus.environments import AppEnv
from tests.corpus.expectations import (
    Expect,
    Inventory,
    aborts,
    cases,
    hook,
    nothing_unresolved,
    reads_request,
    session_reads,
    session_writes,
    uses,
)
from tests.servers import ServerProcess

pytestmark = [pytest.mark.corpus, pytest.mark.timeout(1800)]

USER = "alice"
PASSWORD = "correct-horse-battery"
WSGI = "archivy:app"
NEW_APP = "tests.corpus.archivy_new_app:app"
HEALTH = "/login"  # the one page archivy answers without a login

# A table of archivy's real routes (archivy/routes.py, archivy/api.py), every one kept on the
# legacy side, and the FastAPI endpoints beside them.
ROUTES = """\
default: legacy
routes:
  - path: /
    target: legacy
  - path: /index
    target: legacy
  - path: /login
    methods: [GET, POST]
    target: legacy
  - path: /dataobj/{dataobj_id:int}
    target: legacy
  - path: /dataobj/delete/{dataobj_id:int}
    methods: [POST]
    target: legacy
  - path: /tags/{tag_name}
    target: legacy
  - path: /images/{filename}
    target: legacy
  - path: /api/dataobjs/{dataobj_id:int}
    methods: [GET, PUT, DELETE]
    target: legacy
  - path: /api/dataobjs/frontmatter/{dataobj_id:int}
    methods: [PUT]
    target: legacy
  - path: /api/dataobj/local_edit/{dataobj_id}
    target: legacy
  - path: /new/health
    target: new
  - path: /new/whoami
    target: new
  - path: /new/describe
    target: new
  - path: /new/logout
    target: new
"""

# Per process: the form's CSRF token (signed with a per-process SECRET_KEY, os.urandom in
# archivy/config.py) and the note's timestamps (written when the test created it).
SCRUB = scrubber(
    (r'csrf_token" type="hidden" value="[^"]+"', 'csrf_token" value="CSRF"'),
    (r"127\.0\.0\.1:\d+", "127.0.0.1:PORT"),  # the bookmarklet's own address
)


@pytest.fixture(scope="module")
def data_dir(archivy_env: AppEnv, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """archivy's data folder with one user, created by archivy's own command."""
    data = tmp_path_factory.mktemp("archivy")
    subprocess.run(
        [archivy_env.bin("archivy"), "create-admin", USER, "--password", PASSWORD],
        env={**archivy_env.env(ARCHIVY_INTERNAL_DIR_PATH=str(data)), "PYTHONPATH": ""},
        check=True,
        capture_output=True,
        timeout=300,
    )
    (data / "routes.yaml").write_text(ROUTES, encoding="utf-8")
    return data


def _extra(data: Path) -> dict[str, str]:
    return {"ARCHIVY_INTERNAL_DIR_PATH": str(data)}


@pytest.fixture(scope="module")
def alone(archivy_env: AppEnv, data_dir: Path) -> Iterator[ServerProcess]:
    with serving.alone(
        archivy_env, WSGI, cwd=data_dir, extra=_extra(data_dir), health_path=HEALTH
    ) as server:
        yield server


@pytest.fixture(scope="module")
def gateway(archivy_env: AppEnv, data_dir: Path) -> Iterator[ServerProcess]:
    with serving.through_gateway(
        archivy_env,
        WSGI,
        data_dir / "routes.yaml",
        cwd=data_dir,
        extra=_extra(data_dir),
        new_app=NEW_APP,
        health_path="/new/health",
    ) as server:
        yield server


def csrf_token(page: str) -> str:
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert found is not None, "archivy's login page has no csrf_token field"
    return found[1]


def log_in(client: httpx.Client) -> httpx.Response:
    """Through archivy's own login form: its CSRF token, then the form post."""
    form = client.get("/login")
    assert form.status_code == 200, form.text[:300]
    return client.post(
        "/login",
        data={"username": USER, "password": PASSWORD, "csrf_token": csrf_token(form.text)},
    )


@pytest.fixture(scope="module")
def note_id(alone: ServerProcess) -> int:
    """A note in the shared data folder, created through archivy's API while logged in."""
    with alone.client(timeout=60) as client:
        assert log_in(client).status_code == 302
        created = client.post(
            "/api/notes", json={"title": "Corpus note", "content": "# Hello", "tags": ["x"]}
        )
        assert created.status_code == 200, created.text[:300]
        return int(created.json()["note_id"])


def test_check_accepts_a_table_of_archivys_routes(archivy_env: AppEnv, data_dir: Path) -> None:
    done = serving.gateway_command(
        archivy_env,
        "check",
        WSGI,
        data_dir / "routes.yaml",
        cwd=data_dir,
        extra={**_extra(data_dir), "GATEWAY_NEW_APP": NEW_APP},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == "ok"
    assert "14 entries, default legacy" in done.stdout
    assert "/api/dataobjs/{dataobj_id:int}" in done.stdout


def test_logged_in_pages_answer_as_archivy_alone(
    alone: ServerProcess, gateway: ServerProcess, note_id: int
) -> None:
    calls = [
        Call("GET", "/"),
        Call("GET", "/index"),
        Call("GET", f"/dataobj/{note_id}"),
        Call("GET", "/dataobj/9999"),  # flash() and a redirect home
        Call("GET", "/bookmarks/new"),
        Call("GET", "/notes/new"),
        Call("GET", "/tags"),  # ripgrep is not installed: flash() and a redirect
        Call("GET", "/bookmarklet"),
        Call("GET", "/user/edit"),
        Call("GET", "/config"),
        Call("GET", "/api/dataobjs"),
        Call("GET", f"/api/dataobjs/{note_id}"),
        Call("GET", "/api/dataobjs/9999"),
        Call("GET", "/images/missing.png"),
        Call("GET", "/static/custom.css"),
        Call("GET", "/static/main.css"),
        Call("POST", "/dataobj/delete/9999"),  # no CSRF token: Flask-WTF's 400
    ]
    with alone.client(timeout=60) as by_alone, gateway.client(timeout=60) as by_gateway:
        assert log_in(by_alone).status_code == 302
        assert log_in(by_gateway).status_code == 302
        found = differences(by_alone, by_gateway, calls, SCRUB)
        assert not found, "\n".join(found)


def test_anonymous_pages_answer_as_archivy_alone(
    alone: ServerProcess, gateway: ServerProcess
) -> None:
    calls = [
        Call("GET", "/"),  # archivy's before_request hook: to the login page
        Call("GET", "/api/dataobjs"),
        Call("GET", "/login"),
        Call("POST", "/login", {"username": USER, "password": "wrong"}),  # CSRF missing
        Call("GET", "/no/such/page"),
    ]
    with alone.client(timeout=60) as by_alone, gateway.client(timeout=60) as by_gateway:
        found = differences(by_alone, by_gateway, calls, SCRUB)
        assert not found, "\n".join(found)


# --- the login shared with the new side (issue 18) ----------------------------------------------


def test_anonymous_callers_meet_archivys_own_redirects_on_the_new_side(
    gateway: ServerProcess,
) -> None:
    with gateway.client(timeout=60) as anonymous:
        whoami = anonymous.get("/new/whoami")
        # Flask-Login's unauthorized(): archivy sets login_view, so a redirect rather than 401.
        assert whoami.status_code == 302
        assert whoami.headers["location"] == "/login?next=%2Fnew%2Fwhoami"
        described = anonymous.get("/new/describe")
        # legacy.run runs archivy's before_request hook (check_perms), which redirects.
        assert described.status_code == 302
        assert described.headers["location"] == "/login?next=/new/describe"
        forged = anonymous.get("/new/whoami", headers={"Cookie": "session=forged.value.sig"})
        assert forged.status_code == 302


def test_a_user_logged_in_through_archivys_form_is_the_new_sides_current_user(
    gateway: ServerProcess,
) -> None:
    with gateway.client(timeout=60) as browser:
        assert log_in(browser).status_code == 302
        whoami = browser.get("/new/whoami")
        assert (whoami.status_code, whoami.json()) == (200, {"user": USER})
        described = browser.get("/new/describe")
        assert described.json() == {"user": USER, "path": "/new/describe"}
        assert browser.get("/").status_code == 200  # archivy's own page, still logged in
        remembered = browser.cookies.get("remember_token")
        assert remembered, "archivy logs in with remember=True"
        with gateway.client(timeout=60) as reopened:
            # A browser reopened: the session cookie gone, Flask-Login's remember cookie kept.
            reopened.cookies.set("remember_token", remembered)
            again = reopened.get("/new/whoami")
            assert (again.status_code, again.json()) == (200, {"user": USER})


def test_logging_out_on_the_new_side_logs_out_of_archivy(gateway: ServerProcess) -> None:
    with gateway.client(timeout=60) as browser:
        assert log_in(browser).status_code == 302
        assert browser.get("/").status_code == 200
        logout = browser.post("/new/logout")
        assert (logout.status_code, logout.json()) == (200, {"logged_out": True})
        assert "remember_token" not in browser.cookies, "the remember cookie is cleared"
        after = browser.get("/")
        assert after.status_code == 302
        assert after.headers["location"].startswith("/login")


# --- the inventory against archivy's source -----------------------------------------------------

# Read from archivy 1.7.7's source. The app-wide hooks every endpoint runs:
# - check_perms (archivy/routes.py:42), a before_request hook reading Flask-Login's
#   `current_user.is_authenticated`: every view but /login, /static and /api/login is
#   login-protected through it (archivy has no @login_required);
# - CSRFProtect(app) (archivy/__init__.py:81): Flask-WTF's before_request `csrf_protect`;
# - LoginManager.init_app (archivy/__init__.py:79): Flask-Login's remember-cookie hook.
EXPECTATIONS = [
    Expect(
        "GET",
        "/",
        "hook check_perms",
        hook("before_request", "check_perms"),
        "routes.py:42 @app.before_request",
    ),
    Expect(
        "GET",
        "/",
        "flask_login.current_user",
        uses("flask_login", "current_user"),
        "routes.py:49 check_perms reads current_user.is_authenticated",
    ),
    Expect(
        "GET",
        "/",
        "session reads _user_id",
        session_reads("_user_id"),
        "current_user loads the user from the session's _user_id",
    ),
    Expect(
        "GET",
        "/",
        "session writes _flashes",
        session_writes("_flashes"),
        "routes.py:73 flash('Directory does not exist.')",
    ),
    Expect(
        "GET",
        "/index",
        "flask_login.current_user",
        uses("flask_login", "current_user"),
        "routes.py:55, the same view as / behind check_perms",
    ),
    Expect(
        "GET",
        "/",
        "hook csrf_protect",
        hook("before_request", "csrf_protect"),
        "__init__.py:81 CSRFProtect(app)",
    ),
    Expect(
        "GET",
        "/",
        "flask_login remember cookie",
        uses("flask_login", "remember cookie"),
        "__init__.py:79 login_manager.init_app(app): _update_remember_cookie",
    ),
    Expect(
        "POST",
        "/login",
        "flask_login.login_user",
        uses("flask_login", "login_user"),
        "routes.py:282 login_user(user, remember=True)",
    ),
    Expect(
        "POST",
        "/login",
        "session writes _user_id",
        session_writes("_user_id"),
        "routes.py:282 login_user stores the user's id",
    ),
    Expect(
        "POST",
        "/login",
        "reads request.args",
        reads_request("args"),
        "routes.py:286 request.args.get('next')",
    ),
    Expect(
        "POST",
        "/login",
        "session reads csrf_token",
        session_reads("csrf_token"),
        "routes.py:275 forms.UserForm (a FlaskForm) validate_on_submit",
    ),
    Expect(
        "GET",
        "/logout",
        "flask_login.logout_user",
        uses("flask_login", "logout_user"),
        "routes.py:299 logout_user()",
    ),
    Expect(
        "GET",
        "/user/edit",
        "flask_login.current_user in the view",
        lambda record: "current_user" in (record.get("extensions") or {}).get("flask_login", []),
        "routes.py:318 form.username.data = current_user.username",
    ),
    Expect(
        "GET",
        "/dataobj/{dataobj_id:int}",
        "session writes _flashes",
        session_writes("_flashes"),
        "routes.py:189 flash('Data could not be found!')",
    ),
    Expect(
        "GET",
        "/dataobj/{dataobj_id:int}",
        "flask_login.current_user",
        uses("flask_login", "current_user"),
        "routes.py:42 check_perms",
    ),
    Expect(
        "POST",
        "/dataobj/delete/{dataobj_id:int}",
        "aborts 400 (CSRF)",
        aborts(400),
        "__init__.py:81 CSRFProtect: a missing token is 400",
    ),
    Expect(
        "POST",
        "/api/login",
        "reads request.authorization",
        reads_request("authorization"),
        "api.py:25 request.authorization['username']",
    ),
    Expect(
        "POST",
        "/api/login",
        "flask_login.login_user",
        uses("flask_login", "login_user"),
        "api.py:30 login_user(user, remember=True)",
    ),
    Expect(
        "GET",
        "/api/dataobjs/{dataobj_id:int}",
        "flask_login.current_user",
        uses("flask_login", "current_user"),
        "routes.py:42 check_perms (api_bp has no hook)",
    ),
    Expect(
        "POST",
        "/api/notes",
        "reads request.get_json",
        reads_request("get_json"),
        "api.py:75 request.get_json()",
    ),
    Expect(
        "POST",
        "/bookmarks/new",
        "session writes _flashes",
        session_writes("_flashes"),
        "routes.py:106 flash('Bookmark Saved!')",
    ),
    Expect(
        "GET",
        "/bookmarklet",
        "session reads _flashes in its template",
        session_reads("_flashes"),
        "templates/base.html:95 get_flashed_messages() (bookmarklet.html extends it)",
    ),
    Expect(
        "POST",
        "/login",
        "nothing unresolved (a classmethod factory)",
        nothing_unresolved,
        "models.py:320 User.from_db, a classmethod returning cls(...)",
    ),
]

# Expectations today's inventory misses (none since it reads Flask's extensions: issue 17);
# a new miss goes here, with its reason, as a strict xfail.
MISSES: dict[str, str] = {}


@pytest.fixture(scope="module")
def archivy_inventory(archivy_env: AppEnv, data_dir: Path) -> Inventory:
    try:
        extra = {**_extra(data_dir), "GATEWAY_NEW_APP": NEW_APP}
        return serving.inventory(
            archivy_env, WSGI, data_dir / "routes.yaml", cwd=data_dir, extra=extra
        )
    except serving.InventoryFailed as exc:
        return str(exc)


@pytest.mark.parametrize("expectation", cases(EXPECTATIONS, MISSES))
def test_the_inventory_sees_what_archivys_source_does(
    archivy_inventory: Inventory, expectation: Expect
) -> None:
    expectation.check(archivy_inventory)


def test_gateway_openapi_is_a_valid_document(archivy_env: AppEnv, data_dir: Path) -> None:
    document = serving.openapi(
        archivy_env,
        WSGI,
        data_dir / "routes.yaml",
        cwd=data_dir,
        extra={**_extra(data_dir), "GATEWAY_NEW_APP": NEW_APP},
    )
    validate(document)  # raises, saying what is wrong
