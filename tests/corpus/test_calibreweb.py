"""calibre-web 0.6.27 (its own fork of Flask-Login in cps/cw_login, Flask-WTF, Flask-Principal,
Jinja templates) behind the gateway.

calibre-web serves a Calibre library; the module makes a small one (calibre_library.py) and
points calibre-web at it through its own admin form, as its admin does on a first start. It has
no module-level app, so calibreweb_app.py runs its main() without its own server. One settings
database and library are served twice for the whole module: alone by gunicorn and through
`gateway serve`.
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
    hook_writes_g,
    reads_request,
    session_reads,
    session_writes,
    uses,
)
from tests.servers import REPO_ROOT, ServerProcess

pytestmark = [pytest.mark.corpus, pytest.mark.timeout(1800)]

WSGI = "tests.corpus.calibreweb_app:app"
NEW_APP = "tests.corpus.calibreweb_new_app:app"
ADMIN, ADMIN_PASSWORD = "admin", "admin123"  # calibre-web's first user (cps/ub.py)
HEALTH = "/login"

# A table of calibre-web's real routes (cps/web.py, cps/admin.py, cps/opds.py), every one kept
# on the legacy side.
ROUTES = """\
default: legacy
routes:
  - path: /book/{book_id:int}
    target: legacy
  - path: /author/{sort_param}
    target: legacy
  - path: /author/{sort_param}/{book_id}
    target: legacy
  - path: /cover/{book_id:int}
    target: legacy
  - path: /ajax/listbooks
    target: legacy
  - path: /admin/user/{user_id:int}
    methods: [GET, POST]
    target: legacy
  - path: /opds/{rest:path}
    target: legacy
  - path: /login
    methods: [GET, POST]
    target: legacy
  - path: /new/health
    target: new
  - path: /new/whoami
    target: new
"""

# Per session: Flask-WTF's CSRF token, in forms and in the page's meta tag.
SCRUB = scrubber(
    (r'(name="csrf_token"[^>]*value=")[^"]+"', r'\1CSRF"'),
    (r'(<meta name="csrf-token" content=")[^"]+"', r'\1CSRF"'),
    (r"127\.0\.0\.1:\d+", "127.0.0.1:PORT"),
)


@pytest.fixture(scope="module")
def workdir(calibreweb_env: AppEnv, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The settings folder, the routes file and a library of one book."""
    folder = tmp_path_factory.mktemp("calibreweb")
    subprocess.run(
        [calibreweb_env.bin("python"), "-m", "tests.corpus.calibre_library", str(folder / "lib")],
        cwd=REPO_ROOT,
        env=calibreweb_env.env(),
        check=True,
        capture_output=True,
        timeout=300,
    )
    (folder / "routes.yaml").write_text(ROUTES, encoding="utf-8")
    return folder


def _extra(workdir: Path) -> dict[str, str]:
    # The entry point (calibreweb_app.py) is in this repository: on the path for gunicorn too.
    return {"CALIBRE_SETTINGS_DB": str(workdir / "app.db"), "PYTHONPATH": str(REPO_ROOT)}


@pytest.fixture(scope="module")
def alone(calibreweb_env: AppEnv, workdir: Path) -> Iterator[ServerProcess]:
    with serving.alone(
        calibreweb_env, WSGI, cwd=workdir, extra=_extra(workdir), health_path=HEALTH
    ) as server:
        yield server


def csrf_token(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None, "the page has no csrf_token field"
    return found[1]


def log_in(client: httpx.Client) -> None:
    """Through calibre-web's own login form (it allows three attempts a minute per user)."""
    form = client.get("/login")
    assert form.status_code == 200, form.text[:300]
    done = client.post(
        "/login",
        data={
            "username": ADMIN,
            "password": ADMIN_PASSWORD,
            "csrf_token": csrf_token(form.text),
            "next": "/",
        },
    )
    assert done.status_code == 302, done.text[:300]
    # The next page shows (and takes from the session) the "now logged in" flash message.
    client.get(done.headers["location"])


@pytest.fixture(scope="module")
def admin_alone(alone: ServerProcess, workdir: Path) -> Iterator[httpx.Client]:
    """The admin, logged in on calibre-web alone, having pointed it at the library."""
    with alone.client(timeout=60) as client:
        log_in(client)
        assert client.get("/").headers["location"] == "/admin/dbconfig"  # no library yet
        form = client.get("/admin/dbconfig")
        saved = client.post(
            "/admin/dbconfig",
            data={"config_calibre_dir": str(workdir / "lib"), "csrf_token": csrf_token(form.text)},
        )
        assert saved.status_code == 200, saved.text[:300]
        assert client.get("/").status_code == 200
        yield client


@pytest.fixture(scope="module")
def gateway(
    calibreweb_env: AppEnv, workdir: Path, admin_alone: httpx.Client
) -> Iterator[ServerProcess]:
    # Started once the library is configured: calibre-web reads its settings at start.
    with serving.through_gateway(
        calibreweb_env,
        WSGI,
        workdir / "routes.yaml",
        cwd=workdir,
        extra=_extra(workdir),
        new_app=NEW_APP,
        health_path="/new/health",
    ) as server:
        yield server


def test_check_accepts_a_table_of_calibrewebs_routes(calibreweb_env: AppEnv, workdir: Path) -> None:
    extra = {**_extra(workdir), "GATEWAY_NEW_APP": NEW_APP}
    done = serving.gateway_command(
        calibreweb_env, "check", WSGI, workdir / "routes.yaml", cwd=workdir, extra=extra
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == "ok"
    assert "10 entries, default legacy" in done.stdout


def test_logged_in_pages_answer_as_calibreweb_alone(
    admin_alone: httpx.Client, gateway: ServerProcess
) -> None:
    calls = [
        Call("GET", "/"),
        Call("GET", "/book/1"),
        Call("GET", "/book/999"),  # flash() and a redirect home
        Call("GET", "/author/stored"),
        Call("GET", "/author/stored/1"),
        Call("GET", "/category/stored/1"),
        Call("GET", "/search?query=Ada"),
        Call("GET", "/advsearch"),
        Call("GET", "/ajax/listbooks?offset=0&limit=10&sort=id&order=asc"),
        Call("GET", "/get_authors_json?q=Lov"),
        Call("GET", "/get_tags_json?q=Comp"),
        Call("GET", "/me"),
        Call("GET", "/table"),
        Call("GET", "/stats"),
        Call("GET", "/admin/view"),
        Call("GET", "/admin/user/1"),
        Call("GET", "/cover/1"),
        Call("GET", "/static/css/main.css"),
        Call("POST", "/ajax/editbooks/title", {"pk": "1", "value": "x"}),  # no CSRF token: 400
    ]
    with gateway.client(timeout=60) as by_gateway:
        log_in(by_gateway)
        found = differences(admin_alone, by_gateway, calls, SCRUB)
        assert not found, "\n".join(found)


def test_anonymous_pages_answer_as_calibreweb_alone(
    admin_alone: httpx.Client, alone: ServerProcess, gateway: ServerProcess
) -> None:
    calls = [
        Call("GET", "/"),  # login_required_if_no_ano: to the login page
        Call("GET", "/book/1"),
        Call("GET", "/login"),
        Call("GET", "/opds"),  # HTTP basic auth: 401
        Call("GET", "/no/such/page"),
    ]
    with alone.client(timeout=60) as by_alone, gateway.client(timeout=60) as by_gateway:
        found = differences(by_alone, by_gateway, calls, SCRUB)
        assert not found, "\n".join(found)


# --- the login shared with the new side (issue 18) ----------------------------------------------


def test_a_user_logged_in_through_calibrewebs_form_is_the_new_sides_current_user(
    gateway: ServerProcess,
) -> None:
    with gateway.client(timeout=60) as anonymous:
        refused = anonymous.get("/new/whoami")
        # calibre-web's fork of Flask-Login, with its login view set: a redirect to it.
        assert refused.status_code == 302
        assert refused.headers["location"].startswith("/login")
    with gateway.client(timeout=60) as browser:
        log_in(browser)
        whoami = browser.get("/new/whoami")
        assert (whoami.status_code, whoami.json()) == (200, {"user": ADMIN, "admin": True})
        assert browser.get("/book/1").status_code == 200  # calibre-web's own page, still


# --- the inventory against calibre-web's source -------------------------------------------------

# Read from calibre-web 0.6.27's source. Its Flask-Login is a fork inside its own package
# (cps/cw_login), so the analysis reads it as the app's code: what it finds there is what the
# fork does with the session (`_user_id`, `_random`, `_id`, `_remember`). App-wide:
# admin.py:109 `before_app_request` sets g.constants, g.allow_anonymous... and redirects to the
# database configuration while no library is set; CSRFProtect (cps/__init__.py:create_app).
EXPECTATIONS = [
    Expect(
        "GET",
        "/",
        "hook before_request (admin.py)",
        hook("before_request", "before_request"),
        "admin.py:109 @admi.before_app_request",
    ),
    Expect(
        "GET",
        "/",
        "session reads _user_id",
        session_reads("_user_id"),
        "web.py:808 @login_required_if_no_ano -> cw_login login_required -> current_user, "
        "cw_login/login_manager.py:341 session.get('_user_id')",
    ),
    Expect(
        "GET",
        "/book/{book_id:int}",
        "session reads _user_id",
        session_reads("_user_id"),
        "web.py:1629 @login_required_if_no_ano",
    ),
    Expect(
        "GET",
        "/me",
        "session reads _user_id",
        session_reads("_user_id"),
        "web.py:1540 @user_login_required",
    ),
    Expect(
        "GET",
        "/ajax/listbooks",
        "session reads _user_id",
        session_reads("_user_id"),
        "web.py:838 @user_login_required",
    ),
    Expect(
        "GET",
        "/ajax/listbooks",
        "reads request.args",
        reads_request("args"),
        "web.py:840 request.args.get('offset')",
    ),
    Expect(
        "POST",
        "/login",
        "session writes _user_id",
        session_writes("_user_id"),
        "web.py:1418 handle_login_user -> cw_login/utils.py:185 login_user",
    ),
    Expect(
        "POST",
        "/login",
        "reads request.form",
        reads_request("form"),
        "web.py:1393 request.form.to_dict()",
    ),
    Expect(
        "GET",
        "/logout",
        "session writes _user_id",
        session_writes("_user_id"),
        "web.py:1460 logout_user -> cw_login/utils.py:218 session.pop('_user_id')",
    ),
    Expect(
        "GET", "/admin/view", "aborts 403", aborts(403), "admin.py:105 @admin_required: abort(403)"
    ),
    Expect(
        "GET",
        "/admin/view",
        "session reads _user_id",
        session_reads("_user_id"),
        "admin.py @user_login_required on every admin view",
    ),
    Expect(
        "GET",
        "/",
        "session writes _flashes",
        session_writes("_flashes"),
        "render_books_list -> flash() on a database error (web.py)",
    ),
    Expect(
        "GET",
        "/",
        "hook writes g.current_theme",
        hook_writes_g("current_theme"),
        "admin.py:123 g.current_theme = config.config_theme (read in templates/layout.html)",
    ),
    Expect(
        "GET",
        "/",
        "flask_wtf named",
        uses("flask_wtf", "csrf_protect"),
        "cps/__init__.py csrf.init_app(app): Flask-WTF's before_request",
    ),
]

# Expectations today's inventory misses (none: issue 17); a new miss goes here, with its reason,
# as a strict xfail.
MISSES: dict[str, str] = {}


@pytest.fixture(scope="module")
def calibreweb_inventory(calibreweb_env: AppEnv, workdir: Path) -> Inventory:
    try:
        extra = {**_extra(workdir), "GATEWAY_NEW_APP": NEW_APP}
        return serving.inventory(
            calibreweb_env, WSGI, workdir / "routes.yaml", cwd=workdir, extra=extra
        )
    except serving.InventoryFailed as exc:
        return str(exc)


@pytest.mark.parametrize("expectation", cases(EXPECTATIONS, MISSES))
def test_the_inventory_sees_what_calibrewebs_source_does(
    calibreweb_inventory: Inventory, expectation: Expect
) -> None:
    expectation.check(calibreweb_inventory)


def test_gateway_openapi_is_a_valid_document(calibreweb_env: AppEnv, workdir: Path) -> None:
    extra = {**_extra(workdir), "GATEWAY_NEW_APP": NEW_APP}
    document = serving.openapi(
        calibreweb_env, WSGI, workdir / "routes.yaml", cwd=workdir, extra=extra
    )
    validate(document)  # raises, saying what is wrong
