"""`gateway check` and `gateway routes`, run as commands."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.servers import SAMPLE_LEGACY, SAMPLE_NEW, bin_path


def gateway(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {
        **os.environ,
        "GATEWAY_LEGACY_APP": SAMPLE_LEGACY,
        "GATEWAY_NEW_APP": SAMPLE_NEW,
        **(env or {}),
    }
    return subprocess.run(
        [bin_path("gateway"), *args], env=full_env, capture_output=True, text=True, timeout=60
    )


def routes_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "routes.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_check_prints_the_table(tmp_path: Path) -> None:
    path = routes_file(
        tmp_path,
        "default: legacy\nroutes:\n"
        "  - {path: '/api/items/{item_id}', methods: [GET], target: new}\n"
        "  - {path: /admin, target: new}\n",
    )
    done = gateway("check", "--routes-file", path)
    assert done.returncode == 0, done.stderr
    assert f"{path}: 2 entries, default legacy" in done.stdout
    assert "/api/items/{item_id}" in done.stdout and "-> new" in done.stdout
    assert done.stdout.rstrip().endswith("ok")


@pytest.mark.parametrize(
    ("text", "messages"),
    [
        pytest.param("routes: [\n", ["invalid YAML"], id="broken-yaml"),
        pytest.param(
            "routes:\n  - {path: /a, target: nowhere}\n  - {path: '/b/{x', target: new}\n",
            [
                "routes[0] (line 2): target: Input should be 'legacy', 'new', 'canary' or 'shadow'",
                "routes[1] (line 3): path: path template '/b/{x'",
            ],
            id="every-problem",
        ),
        pytest.param(
            "routes:\n  - {path: /admin, target: new}\n"
            "  - {path: /admin, methods: [GET], target: legacy}\n",
            ["routes[1] (line 3) '/admin' overlaps routes[0] (line 2) '/admin': both match GET"],
            id="overlap",
        ),
        pytest.param(
            "routes:\n  - {path: /api/items, methods: [GET, POST], target: new}\n",
            [
                "'/api/items' targets 'new' but the new app "
                "(tests.gateway.sample_apps:fastapi_app) has no route for POST /api/items"
            ],
            id="missing-method-on-new-side",
        ),
    ],
)
def test_check_reports_every_problem_and_fails(
    tmp_path: Path, text: str, messages: list[str]
) -> None:
    path = routes_file(tmp_path, text)
    done = gateway("check", "--routes-file", path)
    assert done.returncode == 1
    for message in messages:
        assert message in done.stderr
    assert path in done.stderr
    assert "Traceback" not in done.stderr


def test_check_on_a_missing_file(tmp_path: Path) -> None:
    done = gateway("check", "--routes-file", str(tmp_path / "absent.yaml"))
    assert done.returncode == 1
    assert "absent.yaml: file not found" in done.stderr


def test_check_on_bad_settings(tmp_path: Path) -> None:
    path = routes_file(tmp_path, "routes: []\n")
    done = gateway("check", "--routes-file", path, env={"GATEWAY_WSGI_THREADS": "zero"})
    assert done.returncode == 1
    assert "wsgi_threads" in done.stderr


def test_routes_lists_both_apps_and_where_the_table_sends_each(tmp_path: Path) -> None:
    path = routes_file(
        tmp_path,
        "routes:\n"
        "  - {path: '/api/items/{item_id}', methods: [GET], target: new}\n"
        "  - {path: /admin, target: new}\n",
    )
    done = gateway("routes", "--routes-file", path)
    assert done.returncode == 0, done.stderr
    rows = {tuple(line.split()) for line in done.stdout.splitlines()}
    assert ("legacy", "GET", "/api/items/{item_id:int}", "new") in rows
    assert ("legacy", "GET,POST", "/api/items", "legacy") in rows
    assert ("new", "GET", "/api/items", "legacy") in rows  # written, not yet routed
    assert ("legacy", "GET", "/files/{name:path}", "legacy") in rows
    # Of the sample legacy app's thirteen rules (Flask's /static/<path> included), two go to
    # the new side.
    assert "2 of 13 legacy endpoints are served by the new side (15%); 0 more" in done.stdout
