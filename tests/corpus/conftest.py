"""The corpus's virtualenvs, one per app, built (or found in the cache) once per session."""

from __future__ import annotations

import pytest

from tests.corpus.environments import AppEnv, CorpusApp, app_env

# archivy 1.7.7: Flask 2.3.2, Flask-Login 0.6.2, Flask-WTF 1.1.1, all pinned. The gateway's
# pydantic-settings needs python-dotenv >= 0.21 and moves archivy's 0.13.0 pin; archivy checks
# its pins at run time (pkg_resources.require in a context processor), so it is put back (the
# settings layer works with it); today's flask-compress needs a backports.zstd that archivy's
# pkg_resources cannot find, so it goes back below 1.18.
ARCHIVY = CorpusApp(
    "archivy",
    pins=("archivy==1.7.7",),
    repins=("python-dotenv==0.13.0", "flask-compress<1.18"),
    extras=("fastapi>=0.115",),
)
# httpbin: Flask, with flasgger's Swagger UI (the `mainapp` extra, as its image installs it).
HTTPBIN = CorpusApp("httpbin", pins=("httpbin[mainapp]==0.10.4",))
# calibre-web: its own fork of Flask-Login (cps/cw_login), Flask-WTF, Flask-Principal, Jinja.
CALIBREWEB = CorpusApp("calibreweb", pins=("calibreweb==0.6.27",), extras=("fastapi>=0.115",))


@pytest.fixture(scope="session")
def archivy_env() -> AppEnv:
    return app_env(ARCHIVY)


@pytest.fixture(scope="session")
def httpbin_env() -> AppEnv:
    return app_env(HTTPBIN)


@pytest.fixture(scope="session")
def calibreweb_env() -> AppEnv:
    return app_env(CALIBREWEB)
