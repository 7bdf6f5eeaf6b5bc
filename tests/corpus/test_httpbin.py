"""httpbin 0.10.4 (Flask, flasgger's Swagger UI) behind the gateway.

httpbin has no login: what it checks is that a request reaches the app as it left the client
(its endpoints echo the request back) and that the answers, redirects, statuses, encodings and
streams come back unchanged. Served twice for the whole module: alone by gunicorn and through
`gateway serve`.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from tests.corpus import serving
from tests.corpus.comparing import Call, differences, scrubber
from tests.corpus.environments import AppEnv
from tests.corpus.expectations import (
    Expect,
    Inventory,
    aborts,
    analysed,
    cases,
    hook,
    nothing_unresolved,
    reads_request,
    uses_extension,
)
from tests.servers import ServerProcess

pytestmark = [pytest.mark.corpus, pytest.mark.timeout(1800)]

WSGI = "httpbin:app"
HEALTH = "/get"

# A table of httpbin's real routes (httpbin/core.py), every one kept on the legacy side.
ROUTES = """\
default: legacy
routes:
  - path: /status/{codes}
    target: legacy
  - path: /anything/{anything:path}
    target: legacy
  - path: /bytes/{n:int}
    target: legacy
  - path: /redirect/{n:int}
    target: legacy
  - path: /basic-auth/{user}/{passwd}
    methods: [GET]
    target: legacy
  - path: /base64/{value}
    target: legacy
  - path: /links/{n:int}/{offset:int}
    target: legacy
  - path: /image/png
    target: legacy
  - path: /spec.json
    target: legacy
"""

# The server's own address is echoed back (Host, the URL); each server has a port of its own.
SCRUB = scrubber((r"127\.0\.0\.1:\d+", "127.0.0.1:PORT"))
BASIC = "Basic " + base64.b64encode(b"user:passwd").decode()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("httpbin")
    (folder / "routes.yaml").write_text(ROUTES, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def alone(httpbin_env: AppEnv, workdir: Path) -> Iterator[ServerProcess]:
    with serving.alone(httpbin_env, WSGI, cwd=workdir, extra={}, health_path=HEALTH) as server:
        yield server


@pytest.fixture(scope="module")
def gateway(httpbin_env: AppEnv, workdir: Path) -> Iterator[ServerProcess]:
    with serving.through_gateway(
        httpbin_env, WSGI, workdir / "routes.yaml", cwd=workdir, extra={}
    ) as server:
        yield server


def test_check_accepts_a_table_of_httpbins_routes(httpbin_env: AppEnv, workdir: Path) -> None:
    done = serving.gateway_command(
        httpbin_env, "check", WSGI, workdir / "routes.yaml", cwd=workdir, extra={}
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == "ok"
    assert "9 entries, default legacy" in done.stdout


def test_routes_lists_every_httpbin_endpoint_on_the_legacy_side(
    httpbin_env: AppEnv, workdir: Path
) -> None:
    done = serving.gateway_command(
        httpbin_env, "routes", WSGI, workdir / "routes.yaml", cwd=workdir, extra={}
    )
    assert done.returncode == 0, done.stdout + done.stderr
    listed = [line.split() for line in done.stdout.splitlines() if line.startswith("legacy ")]
    paths = {row[2] for row in listed}
    # httpbin/core.py's rules and flasgger's (the UI at /, the document at /spec.json).
    assert {"/get", "/status/{codes}", "/anything/{anything:path}", "/", "/spec.json"} <= paths
    assert all(row[-1] == "legacy" for row in listed)
    assert "0 of " in done.stdout


def test_answers_are_httpbins_own(alone: ServerProcess, gateway: ServerProcess) -> None:
    form = {"name": "corpus", "city": "Zürich"}
    calls = [
        Call("GET", "/get?a=1&a=2&b=%C3%A9"),
        Call("GET", "/headers", headers={"X-Corpus": "yes"}),
        Call("GET", "/user-agent"),
        Call("GET", "/ip"),
        Call("POST", "/post", data=form),
        Call("PUT", "/put", data=form),
        Call("PATCH", "/anything/deep/path?x=1", data=form),
        Call("DELETE", "/delete"),
        Call("GET", "/status/418"),
        Call("POST", "/status/201"),
        Call("GET", "/status/nope"),
        Call("GET", "/basic-auth/user/passwd", headers={"Authorization": BASIC}),
        Call("GET", "/basic-auth/user/other", headers={"Authorization": BASIC}),
        Call("GET", "/bearer", headers={"Authorization": "Bearer token"}),
        Call("GET", "/cookies", headers={"Cookie": "a=1; b=2"}),
        Call("GET", "/cookies/set?flavour=oat"),
        Call("GET", "/redirect/2"),
        Call("GET", "/redirect-to?url=/get&status_code=307"),
        Call("GET", "/response-headers?X-Answer=42"),
        Call("GET", "/json"),
        Call("GET", "/html"),
        Call("GET", "/xml"),
        Call("GET", "/robots.txt"),
        Call("GET", "/encoding/utf8"),
        Call("GET", "/base64/SFRUUEJJTiBpcyBhd2Vzb21l"),
        Call("GET", "/bytes/64?seed=7"),
        Call("GET", "/stream-bytes/64?seed=7&chunk_size=10"),
        Call("GET", "/stream/3"),
        Call("GET", "/drip?duration=0&numbytes=5&delay=0"),
        Call("GET", "/range/32", headers={"Range": "bytes=4-9"}),
        Call("GET", "/etag/abc", headers={"If-None-Match": '"abc"'}),
        Call("GET", "/cache", headers={"If-Modified-Since": "Wed, 21 Oct 2015 07:28:00 GMT"}),
        Call("GET", "/gzip"),
        Call("GET", "/deflate"),
        Call("GET", "/image/png"),
        Call("GET", "/image/svg"),
        Call("GET", "/links/3/1"),
        Call("GET", "/spec.json"),  # flasgger's document
        Call("GET", "/"),  # flasgger's UI
        Call("GET", "/no/such/page"),
    ]
    with alone.client(timeout=60) as by_alone, gateway.client(timeout=60) as by_gateway:
        found = differences(by_alone, by_gateway, calls, SCRUB)
        assert not found, "\n".join(found)


# --- the inventory against httpbin's source -----------------------------------------------------

# Read from httpbin 0.10.4's source (httpbin/core.py, httpbin/helpers.py, httpbin/filters.py).
# App-wide: before_request (core.py:216) aborts 501 for a chunked body outside gunicorn;
# set_cors_headers (core.py:232) is an after_request hook; flasgger's Swagger(app) (core.py:172)
# adds an after_request hook of its own and the UI's views.
EXPECTATIONS = [
    Expect(
        "GET",
        "/get",
        "hook before_request aborts 501",
        aborts(501),
        "core.py:229 abort(501, 'Chunked requests are not supported...')",
    ),
    Expect(
        "GET",
        "/get",
        "after_request set_cors_headers",
        hook("after_request", "set_cors_headers"),
        "core.py:232 @app.after_request",
    ),
    Expect(
        "GET",
        "/get",
        "reads request.args",
        reads_request("args"),
        "core.py:399 get_dict('url', 'args', ...), helpers.py get_dict",
    ),
    Expect(
        "GET",
        "/headers",
        "reads request.headers",
        reads_request("headers"),
        "core.py:365 get_headers() reads request.headers",
    ),
    Expect(
        "POST",
        "/post",
        "reads request.form",
        reads_request("form"),
        "core.py:449 get_dict(..., 'form', 'data', 'files', 'json')",
    ),
    Expect(
        "POST",
        "/post",
        "reads request.files",
        reads_request("files"),
        "core.py:449 get_dict(..., 'files')",
    ),
    Expect(
        "GET",
        "/basic-auth/{user}/{passwd}",
        "reads request.authorization",
        reads_request("authorization"),
        "helpers.py check_basic_auth: request.authorization",
    ),
    Expect(
        "GET",
        "/cookies",
        "reads request.cookies",
        reads_request("cookies"),
        "core.py:854 dict(request.cookies.items())",
    ),
    Expect(
        "GET",
        "/digest-auth/{qop}/{user}/{passwd}",
        "reads request.cookies",
        reads_request("cookies"),
        "core.py:1172 request.cookies.get('fake')",
    ),
    Expect(
        "GET",
        "/status/{codes}",
        "analysed, nothing unresolved",
        lambda record: analysed(record) and nothing_unresolved(record),
        "core.py:749 view_status_code, helpers.py status_code (plain functions)",
    ),
    Expect(
        "GET",
        "/gzip",
        "nothing unresolved through @filters.gzip",
        nothing_unresolved,
        "filters.py:42 the gzip decorator (a decorator factory) calls the view",
    ),
    Expect(
        "GET",
        "/brotli",
        "nothing unresolved through @filters.brotli",
        nothing_unresolved,
        "filters.py:99 the brotli decorator calls the view",
    ),
    Expect(
        "GET",
        "/spec.json",
        "flasgger named",
        uses_extension("flasgger"),
        "core.py:172 Swagger(app): flasgger's APISpecsView serves /spec.json",
    ),
    Expect(
        "GET",
        "/get",
        "flasgger's after_request hook named",
        uses_extension("flasgger"),
        "flasgger/base.py Swagger.add_headers registers an after_request hook",
    ),
]

# Expectations today's inventory misses (issue 17: extensions, decorator factories).
MISSES = {
    "GET /gzip: nothing unresolved through @filters.gzip": "views wrapped by a decorator "
    "factory are not followed (issue 17)",
    "GET /brotli: nothing unresolved through @filters.brotli": "views wrapped by a decorator "
    "factory are not followed (issue 17)",
}


@pytest.fixture(scope="module")
def httpbin_inventory(httpbin_env: AppEnv, workdir: Path) -> Inventory:
    try:
        return serving.inventory(httpbin_env, WSGI, workdir / "routes.yaml", cwd=workdir, extra={})
    except serving.InventoryFailed as exc:
        return str(exc)


@pytest.mark.parametrize("expectation", cases(EXPECTATIONS, MISSES))
def test_the_inventory_sees_what_httpbins_source_does(
    httpbin_inventory: Inventory, expectation: Expect
) -> None:
    expectation.check(httpbin_inventory)


def test_gateway_openapi_is_a_valid_document(httpbin_env: AppEnv, workdir: Path) -> None:
    document = serving.openapi(httpbin_env, WSGI, workdir / "routes.yaml", cwd=workdir, extra={})
    validate(document)  # raises, saying what is wrong
