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
                "routes[0] (line 2): target: Input should be "
                "'legacy', 'new', 'canary', 'shadow' or 'match'",
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
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == len(messages)  # one line per problem
    assert all(line.startswith(f"error: {path}: ") for line in errors)


def alias_bomb() -> bytes:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]" for n in range(1, 10)]
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(
            b"default: legacy\x07\n",
            "line 1, column 16: invalid YAML: character U+0007 is not allowed",
            id="control-byte",
        ),
        pytest.param(
            b"routes: []\n# caf\xe9\n", "line 2: not UTF-8 text (byte 16)", id="invalid-utf8"
        ),
        pytest.param(
            b"routes: " + b"[" * 5000 + b"\n",
            "line 1, column 58: nested deeper than 50 levels",
            id="deep-nesting",
        ),
        pytest.param(
            alias_bomb(), "aliases add more than 100,000 values (an alias bomb?)", id="alias-bomb"
        ),
        pytest.param(
            b"routes: []\n" + b"#" * (2 << 20),
            "larger than 1 MiB, the most a routes file may hold",
            id="huge",
        ),
        pytest.param(
            b"routes:\n  - {path: /a, target: new, guard: on}\n",
            "line 2, column 36: 'on' is the string 'on' in YAML 1.2",
            id="yaml-1.1-boolean",
        ),
    ],
)
def test_check_reports_a_file_no_parser_could_read(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "routes.yaml"
    path.write_bytes(content)
    done = gateway("check", "--routes-file", str(path))
    assert done.returncode == 1
    (error,) = done.stderr.splitlines()
    assert error.startswith(f"error: {path}: {message}")


def test_check_on_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    done = gateway("check", "--routes-file", str(path))
    assert done.returncode == 1
    assert done.stderr.splitlines() == [f"error: {path}: file not found"]


def test_check_on_a_directory(tmp_path: Path) -> None:
    done = gateway("check", "--routes-file", str(tmp_path))
    assert done.returncode == 1
    assert done.stderr.splitlines() == [f"error: {tmp_path}: is a directory, not a routes file"]


def test_help_reads_normally() -> None:
    done = gateway("--help")
    assert done.returncode == 0, done.stderr
    assert "<bool>" not in done.stdout
    options = [line.split() for line in done.stdout.splitlines() if line.strip().startswith("--")]
    assert ["--help", "Show", "this", "message", "and", "exit."] in options
    listed = [line.split() for line in done.stdout.split("Commands:")[1].splitlines() if line]
    assert {words[0] for words in listed} == {
        "serve",
        "check",
        "routes",
        "inventory",
        "openapi",
        "parity",
        "rollout",
    }
    # Each description whole: Click cuts one too long for the line with "...".
    assert all(not words[-1].endswith("...") for words in listed)
    check = gateway("check", "--help")
    assert "[env: GATEWAY_ROUTES_FILE]" in check.stdout and "<bool>" not in check.stdout


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
