"""A small blog written with the real common Flask extensions, as package sources for the tests.

The shapes are those found in real apps: microblog's Flask-Login, flash, Flask-WTF forms,
Flask-Babel's locale on `g` and templates reading `g`; Conduit's Flask-JWT-Extended and its
`InvalidUsage` exception built by classmethod factories from module-level templates; a
Flask-HTTPAuth API; a view built by a decorator factory without `functools.wraps` and
registered in a loop; a url value preprocessor; a custom `app_ctx_globals_class`; webargs;
archivy's login check in a `before_request` hook rather than on each view.
"""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PACKAGE = "blogapp"

SOURCES = {
    "__init__.py": """
        from flask import Flask
        from flask.ctx import _AppCtxGlobals
        from flask import session
        from flask_babel import Babel
        from flask_jwt_extended import JWTManager
        from flask_login import LoginManager
        from flask_wtf.csrf import CSRFProtect

        login = LoginManager()
        csrf = CSRFProtect()
        babel = Babel()
        jwt = JWTManager()


        class Globals(_AppCtxGlobals):
            @property
            def theme(self):
                return session.get("theme", "light")


        def create_app():
            from blogapp import admin, api, errors, locale, views
            from blogapp.models import User

            app = Flask(__name__)
            app.config.update(SECRET_KEY="test", JWT_SECRET_KEY="a-secret-of-32-characters-long!")
            app.app_ctx_globals_class = Globals
            login.init_app(app)
            csrf.init_app(app)
            babel.init_app(app, locale_selector=locale.get_locale)
            jwt.init_app(app)

            @login.user_loader
            def load_user(user_id):
                return User.query.get(int(user_id))

            @jwt.user_lookup_loader
            def lookup(header, data):
                return User.query.get(data["sub"])

            app.register_blueprint(views.bp)
            app.register_blueprint(api.bp)
            app.register_blueprint(admin.bp)
            errors.register(app)
            return app
    """,
    "locale.py": """
        from flask import request

        def get_locale():
            return request.accept_languages.best_match(["en", "fr"])
    """,
    "models.py": """
        from flask_login import UserMixin

        class Query:
            def get(self, ident):
                return User(ident)

        class User(UserMixin):
            query = Query()

            def __init__(self, ident):
                self.id = ident
    """,
    "forms.py": """
        from flask_wtf import FlaskForm
        from wtforms import StringField

        class LoginForm(FlaskForm):
            username = StringField("Username")
    """,
    "errors.py": """
        from flask import jsonify

        def template(data, code=500):
            return {"message": {"errors": {"body": data}}, "status_code": code}

        ARTICLE_NOT_FOUND = template(["Article not found"], code=404)
        UNKNOWN_ERROR = template([], code=500)

        class InvalidUsage(Exception):
            status_code = 500

            def __init__(self, message, status_code=None):
                super().__init__()
                self.message = message
                if status_code is not None:
                    self.status_code = status_code

            @classmethod
            def article_not_found(cls):
                return cls(**ARTICLE_NOT_FOUND)

            @classmethod
            def unknown_error(cls):
                return cls(**UNKNOWN_ERROR)

        class Unhandled(Exception):
            status_code = 418

        def on_invalid_usage(error):
            response = jsonify(error.message)
            response.status_code = error.status_code
            return response

        def register(app):
            app.errorhandler(InvalidUsage)(on_invalid_usage)
    """,
    "views.py": """
        from flask import Blueprint, flash, g, redirect, render_template, session
        from flask_babel import get_locale
        from flask_login import current_user, login_required, login_user, logout_user

        from blogapp.forms import LoginForm
        from blogapp.models import User

        bp = Blueprint("main", __name__)

        @bp.before_app_request
        def before_request():
            g.locale = str(get_locale())
            g.search_form = None

        @bp.url_value_preprocessor
        def pull_colour(endpoint, values):
            g.colour = (values or {}).pop("colour", None)

        @bp.route("/")
        @bp.route("/index")
        @login_required
        def index():
            return render_template("index.html", theme=g.theme)

        @bp.route("/login", methods=["GET", "POST"])
        def login():
            form = LoginForm()
            if form.validate_on_submit():
                login_user(User.query.get_or_404(1))
                flash("Welcome back")
                return redirect("/")
            return render_template("login.html", form=form)

        @bp.route("/logout")
        def logout():
            logout_user()
            return redirect("/")

        @bp.route("/user/<name>")
        def user(name):
            return {"name": name, "me": current_user.is_authenticated}

        def tagged(tag):
            def decorate(view):
                def wrapper(*args, **kwargs):
                    g.tag = tag
                    return view(*args, **kwargs)
                return wrapper
            return decorate

        def palette():
            return {"favourite": session["favourite"]}

        for name in ("red", "blue"):
            bp.add_url_rule(f"/palette/{name}", f"palette_{name}", tagged(name)(palette))
    """,
    "api.py": """
        from flask import Blueprint
        from flask_httpauth import HTTPBasicAuth
        from flask_jwt_extended import current_user, jwt_required
        from pydantic import BaseModel
        from webargs import fields
        from webargs.flaskparser import use_kwargs

        from blogapp.errors import InvalidUsage, Unhandled

        bp = Blueprint("api", __name__, url_prefix="/api")
        auth = HTTPBasicAuth()

        @bp.get("/tokens")
        @auth.login_required
        def tokens():
            return {"user": auth.current_user()}

        @bp.put("/user")
        @jwt_required()
        @use_kwargs({"email": fields.Str(), "bio": fields.Str()})
        def update_user(email=None, bio=None):
            return {"name": current_user.id}

        class Comment(BaseModel):
            body: str
            draft: bool = False

        @bp.post("/comments")
        def comment(body: Comment = None):  # Flask-Pydantic's shape: the body as a model
            return {}

        @bp.get("/articles/<slug>")
        def article(slug):
            if slug == "teapot":
                raise Unhandled()
            raise InvalidUsage.article_not_found()
    """,
    # calibreweb vendors a fork of Flask-Login: its `current_user` is the package's own proxy.
    "vendored_login.py": """
        from flask import g, session
        from werkzeug.local import LocalProxy

        current_member = LocalProxy(lambda: _get_member())

        def _get_member():
            if "_member" not in g:
                g._member = session.get("_member_id")
            return g._member
    """,
    "admin.py": """
        from flask import Blueprint, redirect
        from flask_login import current_user

        bp = Blueprint("admin", __name__, url_prefix="/admin")

        @bp.before_request
        def check_perms():
            if not current_user.is_authenticated:
                return redirect("/login")

        @bp.get("/stats")
        def stats():
            return {"ok": True}, 201

        @bp.get("/member")
        def member():
            from blogapp.vendored_login import current_member

            return {"member": current_member.name}
    """,
    "templates/base.html": """
        <html lang="{{ g.locale }}">
        {% if current_user.is_authenticated %}{{ g.search_form }}{% endif %}
        {% for message in get_flashed_messages() %}<p>{{ message }}</p>{% endfor %}
        <title>{{ _('Blog') }}</title>
        {% block content %}{% endblock %}
        </html>
    """,
    "templates/index.html": """
        {% extends "base.html" %}
        {% block content %}{{ session['last_seen'] }}{% endblock %}
    """,
    "templates/login.html": """
        {% extends "base.html" %}
        {% block content %}<form>{{ form.hidden_tag() }}{{ csrf_token() }}</form>{% endblock %}
    """,
}


@contextmanager
def extension_app(root: Path) -> Iterator[Any]:
    """The blog's Flask app, its package written under `root` and imported from there."""
    for name, source in SOURCES.items():
        path = root / PACKAGE / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source).lstrip(), encoding="utf-8")
    sys.path.insert(0, str(root))
    try:
        yield importlib.import_module(PACKAGE).create_app()
    finally:
        sys.path.remove(str(root))
        for name in [name for name in sys.modules if name.partition(".")[0] == PACKAGE]:
            del sys.modules[name]
