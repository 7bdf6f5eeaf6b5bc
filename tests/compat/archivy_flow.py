"""Log in to archivy through its own login form, then ask a FastAPI endpoint who is logged in.

Needs archivy (Flask 2.3, Flask-Login 0.6.2) installed beside this checkout in a virtualenv of
its own, and runs from the repository's root with that virtualenv's Python:

    python3 -m venv /tmp/archivy-venv
    /tmp/archivy-venv/bin/pip install archivy==1.7.7 -e . 'fastapi>=0.115' 'httpx>=0.27'
    # archivy checks its own pins at run time (pkg_resources.require in a context processor):
    # the gateway's uvicorn[standard] moves python-dotenv, and today's flask-compress needs a
    # backports.zstd that archivy's old pkg_resources cannot find. Put both back:
    /tmp/archivy-venv/bin/pip install 'python-dotenv==0.13.0' 'flask-compress<1.18'
    /tmp/archivy-venv/bin/python -m tests.compat.archivy_flow

Prints each step; exits non-zero, saying which step failed, unless every one gives what archivy
itself would.
"""

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

from tests.servers import bin_path, run_gateway

USER = "alice"
PASSWORD = "correct-horse-battery"
NEW_ROUTES = """\
default: legacy
routes:
  - path: /new/health
    target: new
  - path: /new/whoami
    target: new
  - path: /new/describe
    target: new
  - path: /new/logout
    target: new
"""


def csrf_token(page: str) -> str:
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    if found is None:
        raise AssertionError("archivy's login page has no csrf_token field")
    return found[1]


def check(step: str, response: httpx.Response, status: int, expected: object = None) -> None:
    body = response.json() if expected is not None else None
    if response.status_code != status or (expected is not None and body != expected):
        raise AssertionError(f"{step}: {response.status_code} {response.text[:300]}")
    print(f"ok  {step}: {response.status_code} {body if body is not None else ''}")


def flow(base_url: str) -> None:
    with httpx.Client(base_url=base_url, timeout=30) as anonymous:
        whoami = anonymous.get("/new/whoami")
        check("anonymous /new/whoami: login_required's redirect", whoami, 302)
        assert whoami.headers["location"] == "/login?next=%2Fnew%2Fwhoami", whoami.headers
        describe = anonymous.get("/new/describe")
        check("anonymous legacy.run: archivy's before_request redirect", describe, 302)
        assert describe.headers["location"] == "/login?next=/new/describe", describe.headers
        forged = anonymous.get("/new/whoami", headers={"Cookie": "session=forged.value.sig"})
        check("a forged session cookie is anonymous", forged, 302)
    with httpx.Client(base_url=base_url, timeout=30) as browser:
        form = browser.get("/login")
        check("archivy's login form", form, 200)
        logged_in = browser.post(
            "/login",
            data={"username": USER, "password": PASSWORD, "csrf_token": csrf_token(form.text)},
        )
        check("login through archivy's form", logged_in, 302)
        check("/new/whoami names the user", browser.get("/new/whoami"), 200, {"user": USER})
        describe = browser.get("/new/describe")
        check(
            "legacy.run under archivy's hooks",
            describe,
            200,
            {"user": USER, "path": "/new/describe"},
        )
        check("archivy's own page after the new side answered", browser.get("/"), 200)
        remembered = browser.cookies.get("remember_token")
        assert remembered, "archivy logs in with remember=True"
        with httpx.Client(base_url=base_url, timeout=30) as reopened:
            # A browser reopened: the session cookie gone, Flask-Login's remember cookie kept.
            reopened.cookies.set("remember_token", remembered)
            check("the remember cookie alone", reopened.get("/new/whoami"), 200, {"user": USER})
        logout = browser.post("/new/logout")
        check("logout on the new side", logout, 200, {"logged_out": True})
        assert "remember_token" not in browser.cookies, "the remember cookie is cleared"
        after = browser.get("/")
        check("archivy sends the logged-out user to its login page", after, 302)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="archivy-") as data:
        env = {"ARCHIVY_INTERNAL_DIR_PATH": data}
        subprocess.run(
            [bin_path("archivy"), "create-admin", USER, "--password", PASSWORD],
            env={**os.environ, **env},
            check=True,
            capture_output=True,
        )
        routes = Path(data) / "routes.yaml"
        routes.write_text(NEW_ROUTES, encoding="utf-8")
        with run_gateway(
            routes,
            legacy_app="archivy:app",
            new_app="tests.compat.archivy_new_app:app",
            env=env,
            health_path="/new/health",
        ) as gateway:
            flow(gateway.base_url)
    print("archivy: every step as expected", file=sys.stderr)


if __name__ == "__main__":
    main()
