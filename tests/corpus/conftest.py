"""The corpus's virtualenvs, one per app, built (or found in the cache) once per session."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

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


Builds = dict[str, Future[AppEnv]]
FIXTURES = {"archivy_env": ARCHIVY, "httpbin_env": HTTPBIN, "calibreweb_env": CALIBREWEB}


@pytest.fixture(scope="session")
def corpus_envs(request: pytest.FixtureRequest) -> Builds:
    """Every virtualenv the selected tests need, built side by side on a first run: pip waits
    on the network as much as it computes, and three builds one after the other take minutes
    more than together."""
    wanted = {
        FIXTURES[name]
        for item in request.session.items
        for name in getattr(item, "fixturenames", ())
        if name in FIXTURES
    }
    with ThreadPoolExecutor(max_workers=len(wanted) or 1) as pool:
        return {app.name: pool.submit(app_env, app) for app in wanted}


def _env(builds: Builds, app: CorpusApp) -> AppEnv:
    # A build's skip (no network) or failure is raised here, in the tests of that app only.
    return builds[app.name].result()


@pytest.fixture(scope="session")
def archivy_env(corpus_envs: Builds) -> AppEnv:
    return _env(corpus_envs, ARCHIVY)


@pytest.fixture(scope="session")
def httpbin_env(corpus_envs: Builds) -> AppEnv:
    return _env(corpus_envs, HTTPBIN)


@pytest.fixture(scope="session")
def calibreweb_env(corpus_envs: Builds) -> AppEnv:
    return _env(corpus_envs, CALIBREWEB)
