"""`gateway parity export`: the exported module runs with pytest and fails where the apps differ."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.behaviours.shadow import ShadowOptions
from gateway.cli import cli
from gateway.compare import Difference
from gateway.parity import redaction, replay
from gateway.parity.redaction import REDACTED
from tests.gateway.parity import apps
from tests.gateway.parity.ledgers import make_copy, make_ledger, sqlite_url
from tests.servers import REPO_ROOT

LEGACY = "tests.gateway.parity.apps:flask_app"
NEW = "tests.gateway.parity.apps:fastapi_app"
BIO = Difference("body:$.author.bio", "null", '""', ("author", "bio"), "type_changed")
AUTH = [(b"authorization", apps.TOKEN.encode()), (b"accept", b"application/json")]


@pytest.fixture
def ledger(tmp_path: Path) -> str:
    url = sqlite_url(tmp_path)
    recorder = make_ledger(url)
    recorder.start()
    for book in (1, 2):
        recorder.record(make_copy("/books/{id}", f"/books/{book}"), "match", [])
    recorder.record(make_copy("/authors/{id}", "/authors/3"), "mismatch", [BIO])
    recorder.record(make_copy("/private", "/private", headers=AUTH), "match", [])
    ignoring_bio = ShadowOptions(ignore=("$..bio",))
    recorder.record(make_copy("/ignored", "/authors/5", options=ignoring_bio), "match", [])
    assert recorder.close(10)
    return url


def export(
    ledger: str,
    route: str,
    output: Path,
    *extra: str,
    legacy: str = LEGACY,
    new: str = NEW,
) -> None:
    args = ["parity", "export", route, "--ledger", ledger, "--output", str(output)]
    result = CliRunner().invoke(cli, [*args, "--legacy-app", legacy, "--new-app", new, *extra])
    assert result.exit_code == 0, result.output


def run_pytest(
    module: Path, env: dict[str, str] | None = None, extra: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """The exported module as a team runs it: its own pytest, warnings as errors."""
    inherited = {k: v for k, v in os.environ.items() if k != "PARITY_TEST_HEADERS"}
    full_env = {**inherited, "PYTHONPATH": str(REPO_ROOT), **(env or {})}
    argv = [sys.executable, "-m", "pytest", str(module), "-q", "-p", "no:cacheprovider"]
    argv += ["-W", "error", "--rootdir", str(module.parent), *extra]
    return subprocess.run(
        argv, cwd=module.parent, env=full_env, capture_output=True, text=True, timeout=120
    )


def test_exported_tests_pass_where_the_apps_agree_and_fail_where_they_differ(
    ledger: str, tmp_path: Path
) -> None:
    books, authors = tmp_path / "test_books.py", tmp_path / "test_authors.py"
    export(ledger, "/books/{id}", books)
    export(ledger, "/authors/{id}", authors)
    text = books.read_text(encoding="utf-8")
    assert "PARITY_TEST_HEADERS" in text.split('"""')[1]  # the header says where credentials go

    passed = run_pytest(books)
    assert passed.returncode == 0, passed.stdout
    assert "2 passed" in passed.stdout

    failed = run_pytest(authors)
    assert failed.returncode == 1, failed.stdout
    assert "1 failed" in failed.stdout
    assert 'body:$.author.bio (type_changed): legacy null | new ""' in failed.stdout


def test_exported_tests_take_credentials_from_their_fixture(ledger: str, tmp_path: Path) -> None:
    private = tmp_path / "test_private.py"
    export(ledger, "/private", private)
    assert apps.TOKEN not in private.read_text(encoding="utf-8")
    without = run_pytest(private)
    assert without.returncode == 1, without.stdout  # 401 from both, in different shapes
    credentials = json.dumps({"Authorization": apps.TOKEN})
    given = run_pytest(private, {"PARITY_TEST_HEADERS": credentials})
    assert given.returncode == 0, given.stdout


def test_exported_tests_keep_the_route_s_ignore_rules(ledger: str, tmp_path: Path) -> None:
    ignored = tmp_path / "test_ignored.py"
    export(ledger, "/ignored", ignored)
    result = run_pytest(ignored)
    assert result.returncode == 0, result.stdout


ECHO = "/echo/{rest:path}"
REST = Difference("body:$.rest", '"a?b"', '"a?b!"', ("rest",))
SIZE = Difference("body:$.size", "2", "-1", ("size",))


def test_exported_tests_send_odd_requests_as_recorded(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    recorder = make_ledger(url)
    recorder.start()
    note = [(b"x-note", "Jos\u00e9 \u2713".encode())]  # UTF-8 bytes: not ASCII, not latin-1 text
    recorder.record(make_copy(ECHO, "/echo/note", headers=note), "match", [])
    # The client sent /echo/a%3Fb: the `?` is part of the path, not the start of a query.
    recorder.record(make_copy(ECHO, "/echo/a?b"), "mismatch", [REST])
    binary = [(b"content-type", b"application/octet-stream")]
    posted = make_copy(ECHO, "/echo/bin", method="POST", headers=binary, body=b"\x00\x01")
    recorder.record(posted, "mismatch", [SIZE])
    assert recorder.close(10)
    module = tmp_path / "test_echo.py"
    export(url, ECHO, module, "--include-writes", "--database-variable", "ECHO_DB")
    env = {"PYTHONWARNINGS": "error", "ECHO_DB": "unused"}
    result = run_pytest(module, env=env, extra=("-rs",))
    # The header is sent as it came; the path's `?` reaches the apps, which still differ on it;
    # the binary body was not kept, so that exchange cannot be replayed and says so.
    assert "1 failed, 1 passed, 1 skipped" in result.stdout, result.stdout
    assert 'body:$.rest (changed): legacy "a?b" | new "a?b!"' in result.stdout
    assert "the request body was not kept" in result.stdout


def test_an_exception_is_a_difference_like_any_other(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    recorder = make_ledger(url)
    recorder.start()
    raised = Difference("exception", "(answered 200)", "ValueError: the rewrite is broken here")
    recorder.record(make_copy("/broken", "/broken"), "error", [raised])
    assert recorder.close(10)
    module = tmp_path / "test_broken.py"
    export(url, "/broken", module)
    result = run_pytest(module)
    # The comparer's word, as the gateway gave it, not the new app's traceback.
    assert "1 failed" in result.stdout, result.stdout
    expected = "exception (changed): legacy (answered 200) | new ValueError: the rewrite is broken"
    assert expected in result.stdout


def test_exported_tests_apply_the_copy_s_header_rules_to_the_other_side(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARITY_NEW_TOKEN", apps.NEW_SIDE_TOKEN)
    rules = {"drop": ["Authorization"], "set": {"X-Token": "${PARITY_NEW_TOKEN}"}}
    options = ShadowOptions.model_validate({"request_headers": rules})
    url = sqlite_url(tmp_path)
    recorder = make_ledger(url)
    recorder.start()
    recorder.record(make_copy("/tokened", "/tokened", headers=AUTH, options=options), "match", [])
    assert recorder.close(10)
    module = tmp_path / "test_tokened.py"
    export(url, "/tokened", module)
    assert apps.NEW_SIDE_TOKEN not in module.read_text(encoding="utf-8")
    credentials = json.dumps({"Authorization": apps.TOKEN})
    # As in the gateway: legacy gets the client's login, new the copy's, from the environment.
    env = {"PARITY_TEST_HEADERS": credentials, "PARITY_NEW_TOKEN": apps.NEW_SIDE_TOKEN}
    passed = run_pytest(module, env)
    assert passed.returncode == 0, passed.stdout
    monkeypatch.delenv("PARITY_NEW_TOKEN")
    unset = run_pytest(module, {"PARITY_TEST_HEADERS": credentials})
    assert unset.returncode == 1
    assert "PARITY_NEW_TOKEN is not set" in unset.stdout, unset.stdout


def test_credentials_fill_in_only_headers_the_recorded_request_had() -> None:
    exchange = {"request": {"method": "GET", "path": "/", "query": "", "headers": [], "body": ""}}
    assert replay.request_of(exchange, {"Authorization": "Bearer x"})["headers"] == []


def test_a_replayed_request_drops_what_the_client_sets_and_fills_in_credentials() -> None:
    exchange = {
        "request": {
            "method": "POST",
            "path": "/p",
            "query": "a=1",
            "headers": [
                ["host", "example"],
                ["content-length", "3"],
                ["authorization", REDACTED],
                ["cookie", REDACTED],
                ["accept", "*/*"],
            ],
            "body": "{}",
        }
    }
    request = replay.request_of(exchange, {"Cookie": "s=1"})
    assert request == {
        "method": "POST",
        "url": "/p?a=1",
        "headers": [(b"cookie", b"s=1"), (b"accept", b"*/*")],  # in the recorded order
        "content": b"{}",
    }


def test_a_recorded_form_body_is_sent_byte_for_byte() -> None:
    raw = "name=Jos\u00e9".encode()  # a client that sends UTF-8 in a form without %-escapes
    kept = redaction.body(raw, "application/x-www-form-urlencoded")
    request: dict[str, object] = {
        "method": "POST",
        "path": "/p",
        "query": "",
        "headers": [],
        "body": kept,
    }
    exchange = {"request": request}
    assert replay.request_of(exchange, {})["content"] == raw


def test_a_wsgi_app_that_raises_gives_an_answer_with_the_exception() -> None:
    def app(environ: object, start_response: object) -> list[bytes]:
        raise KeyError("raised")

    request: dict[str, object] = {"method": "GET", "url": "/", "headers": [], "content": None}
    answer = replay.legacy_answer(app, request)
    assert isinstance(answer.exception, KeyError)


def test_a_header_the_copy_sets_literally_cannot_be_replayed() -> None:
    request = {"headers": [(b"Authorization", b"x")], "method": "GET", "url": "/", "content": None}
    rules = {"drop": ["authorization"], "set": {"x-token": "(hidden)"}}
    with pytest.raises(replay.NotReplayable, match="x-token on the copy as a literal value"):
        replay.copied(request, rules)
    assert replay.copied(request, {"drop": ["authorization"]})["headers"] == []


def count_rows(database: Path) -> dict[str, int]:
    with closing(sqlite3.connect(database)) as connection:
        tables = ("tickets", "comments", "users", "attachments")
        return {t: connection.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


def test_the_example_s_exported_tests_pass_and_write_nothing(tmp_path: Path) -> None:
    """The help-desk apps: the new one opens its database in its lifespan; a recorded POST is
    not replayed, so the database is as it was, and the GET passes."""
    url = sqlite_url(tmp_path)
    recorder = make_ledger(url)
    recorder.start()
    token = [(b"x-token", b"admin-token"), (b"accept", b"application/json")]
    recorder.record(make_copy("/api/tickets", "/api/tickets", headers=token), "match", [])
    posted = make_copy(
        "/api/tickets",
        "/api/tickets",
        method="POST",
        headers=[*token, (b"content-type", b"application/json")],
        body=b'{"title": "Printer on fire", "description": "again"}',
    )
    recorder.record(posted, "match", [])
    assert recorder.close(10)
    module = tmp_path / "test_tickets.py"
    export(url, "/api/tickets", module, legacy="legacy_app.wsgi:app", new="new_app.main:app")
    assert "admin-token" not in module.read_text(encoding="utf-8")  # redacted: not a safe header
    # Imported here: the example's apps need SQLAlchemy 2, and scripts/check-oldest-supported.sh
    # imports this module (through test_server) beside SQLAlchemy 1.4.
    from tests.helpdesk import app_env, seed_database

    database = seed_database(tmp_path / "helpdesk.db")
    before = count_rows(database)
    env = {**app_env(database), "PARITY_TEST_HEADERS": json.dumps({"X-Token": "admin-token"})}
    result = run_pytest(module, env=env, extra=("-rs",))
    assert "1 passed, 1 skipped" in result.stdout, result.stdout
    assert "replays safe methods only" in result.stdout
    assert count_rows(database) == before

    # With writes included, they wait for the variable naming a database for them.
    writes = tmp_path / "test_tickets_writes.py"
    export(
        url,
        "/api/tickets",
        writes,
        "--include-writes",
        "--database-variable",
        "HELPDESK_DATABASE_URL",
        legacy="legacy_app.wsgi:app",
        new="new_app.main:app",
    )
    unset = {k: v for k, v in env.items() if k != "HELPDESK_DATABASE_URL"}
    waiting = run_pytest(writes, env=unset, extra=("-rs",))
    assert "set HELPDESK_DATABASE_URL to a database" in waiting.stdout, waiting.stdout
