"""The gateway installs beside the app it fronts: its own dependencies only, no example apps,
and it serves a legacy app alone when there is no new app."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import httpx

from tests.gateway.test_server import metric
from tests.servers import REPO_ROOT, bin_path, run_gateway

EXAMPLE_ONLY = {"flask", "fastapi", "python-multipart"}
# Never in the core: PostgreSQL's driver (the postgres extra; an app on PostgreSQL has its own)
# and the ORM layer an app brings (the ledger needs SQLAlchemy Core only).
NOT_IN_THE_CORE = {"psycopg", "psycopg2", "psycopg2-binary", "flask-sqlalchemy"}


def _name(requirement: str) -> str:
    return requirement.split(";")[0].split("[")[0].split("<")[0].split(">")[0].split("=")[0]


def _project() -> dict[str, Any]:
    project: dict[str, Any] = tomllib.loads(
        (REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8")
    )["project"]
    return project


def _names(requirements: list[str]) -> set[str]:
    return {_name(r).strip().lower() for r in requirements}


def test_the_examples_frameworks_are_an_extra_not_a_dependency() -> None:
    project = _project()
    dependencies = _names(project["dependencies"])
    assert not dependencies & EXAMPLE_ONLY
    examples = _names(project["optional-dependencies"]["examples"])
    # Beside the frameworks, only narrower bounds of the gateway's own (SQLAlchemy 2 for the
    # examples' ORM models, where the gateway's ledger takes 1.4 too).
    assert EXAMPLE_ONLY <= examples and examples - EXAMPLE_ONLY <= dependencies


def test_the_core_leaves_old_apps_pins_alone() -> None:
    project = _project()
    assert not _names(project["dependencies"]) & NOT_IN_THE_CORE
    assert _names(project["optional-dependencies"]["postgres"]) == {"psycopg"}


def test_the_wheel_holds_the_gateway_and_not_the_example_apps(tmp_path: Path) -> None:
    # Built from a copy: setuptools leaves a build/ folder beside the sources it builds.
    source = tmp_path / "source"
    shutil.copytree(
        REPO_ROOT,
        source,
        ignore=shutil.ignore_patterns(".*", "build", "*.egg-info", "*.db", "test-artifacts"),
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(tmp_path),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    [wheel] = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert tops == {"gateway"}
    assert "gateway/observe/dashboard/index.html" in names


def test_without_a_new_app_every_entry_must_be_legacy(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text("default: legacy\nroutes:\n  - {path: /api/items, target: new}\n")
    env = {"GATEWAY_NEW_APP": "", "GATEWAY_LEGACY_APP": "tests.gateway.sample_apps:flask_app"}
    done = subprocess.run(
        [bin_path("gateway"), "check", "--routes-file", str(routes)],
        env={**_environ(), **env},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
    )
    assert done.returncode == 1
    assert "targets 'new' but GATEWAY_NEW_APP is not set" in done.stderr
    routes.write_text("default: new\nroutes: []\n")
    done = subprocess.run(
        [bin_path("gateway"), "check", "--routes-file", str(routes)],
        env={**_environ(), **env},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
    )
    assert done.returncode == 1
    assert "default: new, but GATEWAY_NEW_APP is not set" in done.stderr


def test_a_legacy_app_alone_is_served_and_the_start_says_so(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text("default: legacy\nroutes:\n  - {path: /api/items, target: legacy}\n")
    with run_gateway(routes, new_app="", env={"GATEWAY_ADMIN_TOKEN": "t"}) as server:
        answer = httpx.get(server.base_url + "/api/items", timeout=10)
        assert answer.json()["app"] == "legacy"
        labels = {"route": "/api/items", "side": "legacy", "method": "GET", "status": "200"}
        assert metric(server, "gateway_requests_total", **labels) == 1
        document = httpx.get(
            server.base_url + "/_gateway/openapi.json",
            headers={"Authorization": "Bearer t"},
            timeout=30,
        ).json()
        sides = {
            op["x-gateway-side"] for item in document["paths"].values() for op in item.values()
        }
        assert sides == {"legacy"}
        assert (
            "GATEWAY_NEW_APP is not set: every request is served by the legacy app" in server.log()
        )


def _environ() -> dict[str, str]:
    return dict(os.environ)
