"""Share a Flask app's session, Flask-Login user and request hooks with a FastAPI app.

    from gateway.compat.flask import LegacyState, LegacyStateMiddleware

    legacy = LegacyState(flask_app)          # the Flask app the gateway serves
    app = FastAPI()
    app.add_middleware(LegacyStateMiddleware)

    @app.get("/whoami")
    async def whoami(user=Depends(legacy.current_user)):
        return {"user": user.name}

Works with Flask 2.2 and later, and Flask-Login 0.6 and later (imported only when the app has a
LoginManager). See docs/shared-state.md.
"""

from gateway.compat.versions import MIN_FLASK, require

require("Flask", MIN_FLASK)

from gateway.compat.flask.answers import LegacyAnswer  # noqa: E402
from gateway.compat.flask.middleware import LegacyStateMiddleware  # noqa: E402
from gateway.compat.flask.state import LegacyState  # noqa: E402
from gateway.compat.request_local import RequestLocal, RequestLocalUnset  # noqa: E402

__all__ = [
    "LegacyAnswer",
    "LegacyState",
    "LegacyStateMiddleware",
    "RequestLocal",
    "RequestLocalUnset",
]
