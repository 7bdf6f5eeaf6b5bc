"""The `gateway` command: its help, its global options, `check` and `routes`, run as commands."""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from gateway.cli import cli
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
    options = [line.split() for line in done.stdout.splitlines() if line.strip().startswith("-")]
    assert ["-h,", "--help", "Show", "this", "message", "and", "exit."] in options
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
    text = " ".join(check.stdout.split())  # as one line: Click wraps the help
    assert "[env var: GATEWAY_ROUTES_FILE; default: config/routes.yaml]" in text
    assert "<bool>" not in check.stdout


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


def test_version() -> None:
    expected = (
        f"gateway (flask-fastapi-gateway) {importlib.metadata.version('flask-fastapi-gateway')}"
    )
    for flag in ("--version", "-V"):
        done = gateway(flag)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == expected


def command_tree() -> dict[tuple[str, ...], Any]:
    """Every visible command of `gateway` by its path, as Click walks it."""
    root: Any = typer.main.get_command(cli)
    found: dict[tuple[str, ...], Any] = {}
    pending: list[tuple[tuple[str, ...], Any, Any]] = [
        ((), root, root.make_context("gateway", [], resilient_parsing=True))
    ]
    while pending:
        path, command, context = pending.pop()
        found[path] = command
        for name in getattr(command, "list_commands", lambda _: [])(context):
            sub = command.get_command(context, name)
            sub_context = sub.make_context(name, [], parent=context, resilient_parsing=True)
            pending.append(((*path, name), sub, sub_context))
    return found


def test_every_command_answers_dash_h() -> None:
    paths = list(command_tree())
    assert ("parity", "report") in paths and ("rollout", "approve") in paths
    for path in paths:
        done = CliRunner().invoke(cli, [*path, "-h"], prog_name="gateway")
        assert done.exit_code == 0, (path, done.output)
        assert done.output.startswith(f"Usage: gateway {' '.join(path)}".rstrip()), path


def test_every_option_uses_one_help_style() -> None:
    """Environment variables and defaults in Click's one bracket, metavars in Typer's <...>, no
    Python type names (`<list[str]>`), and the global options on every command."""
    for path, command in command_tree().items():
        context = command.make_context(path[-1] if path else "gateway", [], resilient_parsing=True)
        params = command.get_params(context)
        records = [r for p in params if (r := p.get_help_record(context)) is not None]
        names = {name for record in records for name in record[0].replace(",", " ").split()}
        assert {"--app-dir", "--env-file", "-h"} <= names, path
        for names_text, what in records:
            assert "list[" not in names_text and "<bool>" not in names_text, (path, names_text)
            assert "[env:" not in what, (path, names_text, what)
            for variable in re.findall(r"GATEWAY_[A-Z_]+", what):
                # Named in prose is fine (GATEWAY_LEDGER_URL as a default); set by the option,
                # it is in the bracket.
                if f"env var: {variable}" not in what:
                    assert "default:" in what and variable in what.split("[", 1)[1], what


def test_global_options_before_or_after_the_command(tmp_path: Path) -> None:
    folder = tmp_path / "apps"
    folder.mkdir()
    (folder / "tiny_wsgi.py").write_text(
        "def app(environ, start_response):\n"
        "    start_response('200 OK', [])\n"
        "    return [b'tiny']\n",
        encoding="utf-8",
    )
    env_file = tmp_path / "gateway.env"
    env_file.write_text("GATEWAY_LEGACY_APP=tiny_wsgi:app\nGATEWAY_NEW_APP=\n", encoding="utf-8")
    path = routes_file(tmp_path, "default: legacy\nroutes: []\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    common = ["--routes-file", path]
    for argv in (
        ["--app-dir", str(folder), "--env-file", str(env_file), "check", *common],
        ["check", *common, "--app-dir", str(folder), "--env-file", str(env_file)],
        ["--env-file", str(env_file), "check", "--app-dir", str(folder), *common],
    ):
        done = subprocess.run(
            [bin_path("gateway"), *argv],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, (argv, done.stderr)
        assert done.stdout.rstrip().endswith("ok"), argv
    # Without the folder, the app is not found: the option did the work.
    done = gateway("check", *common, "--env-file", str(env_file), env={"GATEWAY_LEGACY_APP": ""})
    assert done.returncode == 1
    missing = gateway("check", *common, "--env-file", str(tmp_path / "absent.env"))
    assert missing.returncode == 1
    assert "--env-file" in missing.stderr and "file not found" in missing.stderr


def test_parity_is_a_group_whose_default_is_the_report(tmp_path: Path) -> None:
    listed = CliRunner().invoke(cli, ["parity", "-h"])
    assert listed.exit_code == 0
    assert re.search(r"^\s+report\s", listed.output, re.M)
    assert re.search(r"^\s+export\s", listed.output, re.M)
    ledger = f"sqlite:///{tmp_path / 'absent.db'}"
    for argv in (["parity"], ["parity", "--ledger", ledger], ["parity", "report"]):
        done = gateway(*argv, "--ledger", ledger)
        assert done.returncode == 2, argv  # the report ran: no ledger to read
        assert "no ledger" in done.stderr, argv
    # The route is an argument everywhere; `--route` still works, and says it is deprecated.
    old = gateway("parity", "--ledger", ledger, "--route", "/a")
    assert old.returncode == 2
    assert "--route is deprecated" in old.stderr
    unnamed = gateway("parity", "export", "--output", str(tmp_path / "t.py"), "--ledger", ledger)
    assert unnamed.returncode == 2
    assert "give one route" in unnamed.stderr
