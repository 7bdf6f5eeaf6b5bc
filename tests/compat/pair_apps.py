"""A Flask app with Flask-Login and a FastAPI app sharing its state through gateway.compat.flask.

`gateway serve --legacy-app tests.compat.pair_apps:flask_app --new-app tests.compat.pair_apps:app`
serves both from one process, so `LegacyState` holds the very Flask app the gateway serves.
Tests build variants with `create_pair(config)`.
"""

import threading
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, NamedTuple

from fastapi import Depends, FastAPI, Header, Request
from fastapi.responses import JSONResponse
from flask import Blueprint, Flask, abort, g, request, session
from flask.sessions import SessionMixin
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user
from flask_login import logout_user as flask_logout_user

from gateway.compat.flask import LegacyState, LegacyStateMiddleware, RequestLocal

SECRET_KEY = "pair-secret-key"
PASSWORD = "secret"


class User(UserMixin):  # type: ignore[misc]  # Flask-Login ships no types
    def __init__(self, user_id: str, name: str) -> None:
        self.id = user_id
        self.name = name


USERS = {user.id: user for user in (User("1", "alice"), User("2", "bob"), User("3", "carol"))}
BY_NAME = {user.name: user for user in USERS.values()}
API_KEYS = {"key-of-carol": USERS["3"]}

# Ported once, read on both sides: bound by a dependency on the new side, read from `g` (set by
# the legacy hook) on the legacy side and inside legacy.run.
current_tenant: RequestLocal[str] = RequestLocal("tenant", fallback=lambda: str(g.tenant))


def tenant_banner() -> str:
    return f"tenant {current_tenant.get()}"


def describe() -> dict[str, Any]:
    """A legacy helper, unchanged: it reads every kind of Flask request-local state."""
    return {
        "user": current_user.name if current_user.is_authenticated else None,
        "tenant": g.tenant,
        "theme": session.get("theme"),
        "path": request.path,
    }


def report_context() -> dict[str, Any]:
    return {"year": g.year, "area": g.area, "tenant": g.tenant, "endpoint": request.endpoint}


@dataclass
class Seen:
    """What the legacy app's hooks saw, for tests to count."""

    teardowns: int = 0
    threads: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def teardown(self) -> None:
        with self.lock:
            self.teardowns += 1
            self.threads.add(threading.current_thread().name)


def create_flask_app(config: Mapping[str, object] | None = None) -> Flask:
    flask_app = Flask(__name__)
    flask_app.config.update(
        SECRET_KEY=SECRET_KEY, SESSION_COOKIE_NAME="pair_session", SESSION_COOKIE_SAMESITE="Lax"
    )
    flask_app.config.update(config or {})
    seen = Seen()
    flask_app.extensions["seen"] = seen
    login_manager = LoginManager(flask_app)
    # Unset: login_required answers 401; set: a redirect to that view.
    login_manager.login_view = flask_app.config.get("PAIR_LOGIN_VIEW")

    login_manager.user_loader(USERS.get)
    login_manager.request_loader(lambda request: API_KEYS.get(request.headers.get("X-Api-Key")))

    @flask_app.before_request
    def set_tenant() -> None:
        g.tenant = request.headers.get("X-Tenant", "public")

    @flask_app.teardown_request
    def count_teardown(_error: BaseException | None) -> None:
        seen.teardown()

    @flask_app.errorhandler(401)
    def unauthorized(_error: Exception) -> tuple[dict[str, Any], int]:
        return {"error": "unauthorized"}, 401

    @flask_app.errorhandler(LookupError)
    def not_found(error: LookupError) -> tuple[dict[str, Any], int]:
        return {"error": f"no such thing: {error}"}, 404

    @flask_app.post("/login")
    def login() -> dict[str, Any]:
        user = BY_NAME.get(request.form.get("name", ""))
        if user is None or request.form.get("password") != PASSWORD:
            abort(401)
        login_user(user, remember=request.form.get("remember") == "yes")
        return {"user": user.name}

    @flask_app.post("/logout")
    def logout() -> dict[str, Any]:
        flask_logout_user()
        return {"ok": True}

    def me() -> dict[str, Any]:
        return {"user": current_user.name}

    flask_app.get("/me")(login_required(me))

    @flask_app.post("/theme/<name>")
    def set_theme(name: str) -> dict[str, Any]:
        session["theme"] = name
        return {"theme": name}

    @flask_app.post("/permanent")
    def make_permanent() -> dict[str, bool]:
        session.permanent = True
        return {"permanent": True}

    @flask_app.get("/session")
    def show_session() -> dict[str, Any]:
        return {"theme": session.get("theme")}

    @flask_app.get("/describe")
    def describe_view() -> dict[str, Any]:
        return describe()

    @flask_app.get("/banner")
    def banner() -> dict[str, Any]:
        return {"banner": tenant_banner()}

    flask_app.register_blueprint(_reports_blueprint())
    return flask_app


def _reports_blueprint() -> Blueprint:
    reports = Blueprint("reports", __name__, url_prefix="/reports")

    @reports.url_value_preprocessor
    def pull_year(_endpoint: str | None, values: dict[str, Any] | None) -> None:
        g.year = values.pop("year", None) if values else None

    @reports.before_request
    def reports_need_a_tenant() -> tuple[dict[str, Any], int] | None:
        if g.tenant == "public":
            return {"error": "reports need a tenant"}, 403
        g.area = "reports"
        return None

    @reports.get("/<int:year>/summary")
    def summary() -> dict[str, Any]:
        return report_context()

    return reports


def create_new_app(legacy: LegacyState) -> FastAPI:
    app = FastAPI()
    app.add_middleware(LegacyStateMiddleware)
    LegacySession = Annotated[SessionMixin, Depends(legacy.session)]

    async def bind_tenant(x_tenant: Annotated[str, Header()] = "public") -> AsyncIterator[str]:
        with current_tenant.bound(x_tenant):
            yield x_tenant

    @app.get("/new/health")
    async def health() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/new/whoami")
    async def whoami(user: Annotated[User, Depends(legacy.current_user)]) -> dict[str, Any]:
        return {"user": user.name}

    @app.get("/new/optional")
    async def optional(user: Annotated[Any, Depends(legacy.optional_user)]) -> dict[str, Any]:
        return {"user": user.name if user.is_authenticated else None}

    @app.get("/new/theme")
    async def read_theme(session: LegacySession) -> dict[str, Any]:
        return {"theme": session.get("theme")}

    @app.post("/new/theme/{name}")
    async def set_theme(name: str, session: LegacySession) -> dict[str, Any]:
        session["theme"] = name
        return {"theme": name}

    @app.post("/new/theme-response/{name}")
    async def set_theme_own_response(name: str, session: LegacySession) -> JSONResponse:
        session["theme"] = name
        return JSONResponse({"theme": name}, status_code=201, headers={"Vary": "Accept"})

    @app.post("/new/permanent")
    async def make_permanent(session: LegacySession) -> dict[str, bool]:
        session.permanent = True
        return {"permanent": True}

    @app.post("/new/theme-and-describe/{name}")
    async def theme_and_describe(request: Request, name: str, session: LegacySession) -> Any:
        session["theme"] = name
        return await legacy.run(request, describe)

    @app.post("/new/login-and-describe/{name}")
    async def login_and_describe(request: Request, name: str) -> Any:
        await legacy.login_user(request, BY_NAME[name])
        return await legacy.run(request, describe)

    @app.post("/new/login/{name}")
    async def login(request: Request, name: str, remember: bool = False) -> dict[str, Any]:
        logged_in = await legacy.login_user(request, BY_NAME[name], remember=remember)
        return {"logged_in": logged_in}

    @app.post("/new/logout")
    async def logout(request: Request) -> dict[str, bool]:
        return {"logged_out": await legacy.logout_user(request)}

    @app.get("/new/describe")
    async def describe_endpoint(request: Request) -> dict[str, Any]:
        return await legacy.run(request, describe)

    @app.post("/new/echo")
    async def echo(request: Request) -> dict[str, Any]:
        return await legacy.run(request, lambda: {"form": request_form(), "path": request_path()})

    @app.get("/new/abort/{status}")
    async def aborting(request: Request, status: int) -> dict[str, Any]:
        return await legacy.run(request, abort, status)

    @app.get("/new/lookup")
    async def lookup(request: Request) -> dict[str, Any]:
        return await legacy.run(request, USERS.__getitem__, "nobody")

    @app.get("/new/banner")
    async def banner(request: Request, _tenant: Annotated[str, Depends(bind_tenant)]) -> Any:
        inside_legacy = await legacy.run(request, tenant_banner)
        return {"banner": tenant_banner(), "inside_legacy": inside_legacy}

    @app.post("/reports/{year}/summary")
    async def report(request: Request, year: int) -> dict[str, Any]:
        return await legacy.run(request, report_context)

    return app


def request_form() -> dict[str, str]:
    return dict(request.form)


def request_path() -> str:
    return request.path


class Pair(NamedTuple):
    flask_app: Flask
    app: FastAPI
    legacy: LegacyState

    @property
    def seen(self) -> Seen:
        seen: Seen = self.flask_app.extensions["seen"]
        return seen


def create_pair(config: Mapping[str, object] | None = None, threads: int = 8) -> Pair:
    flask_app = create_flask_app(config)
    legacy = LegacyState(flask_app, threads=threads)
    return Pair(flask_app, create_new_app(legacy), legacy)


flask_app, app, legacy = create_pair()
