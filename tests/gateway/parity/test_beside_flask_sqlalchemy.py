"""The gateway serving an app on Flask-SQLAlchemy, in the app's own environment, and `gateway
parity` reading the ledger it wrote.

scripts/check-oldest-supported.sh runs this beside SQLAlchemy 1.4, Flask-SQLAlchemy 2.5.1,
gunicorn 20.1 and Flask 2.2 (psycopg2 for PostgreSQL); `make test` beside the newest.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.gateway.parity.test_server import all_compared, report
from tests.servers import run_gateway
from tests.waiting import wait_for

# The server's start and each worker's import of the app: minutes on a loaded 2-core machine.
pytestmark = pytest.mark.timeout(300)

LEGACY = "tests.gateway.parity.library_apps:flask_app"
NEW = "tests.gateway.parity.library_apps:starlette_app"
ROUTES = """\
default: legacy
defaults:
  shadow: {concurrency: 1000, timeout: 120}
routes:
  - path: /books/{book_id}
    target: shadow
"""
ROUNDS = 3


def library(folder: Path) -> str:
    """The legacy app's database, made as its own migrations would have."""
    path = folder / "library.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE books (id INTEGER PRIMARY KEY, title TEXT NOT NULL)")
        connection.executemany("INSERT INTO books VALUES (?, ?)", [(1, "Dune"), (2, "Emma")])
    connection.close()
    return f"sqlite:///{path}"


@pytest.mark.parametrize(
    ("workers", "backend"),
    [
        pytest.param(1, "sqlite", id="one-process-sqlite"),
        pytest.param(2, "postgresql", id="gunicorn-workers-postgresql"),
    ],
)
def test_an_old_app_is_served_and_its_ledger_read(
    tmp_path: Path, request: pytest.FixtureRequest, workers: int, backend: str
) -> None:
    if backend == "sqlite":
        ledger = f"sqlite:///{tmp_path / 'ledger' / 'parity.db'}"
    else:
        ledger = request.getfixturevalue("postgres_url")
    routes = tmp_path / "routes.yaml"
    routes.write_text(ROUTES, encoding="utf-8")
    env = {"LIBRARY_DATABASE_URL": library(tmp_path), "GATEWAY_LEDGER_URL": ledger}
    with run_gateway(routes, legacy_app=LEGACY, new_app=NEW, workers=workers, env=env) as server:
        with server.client() as client:
            for _ in range(ROUNDS):
                # The legacy app answers (from its database), the rewrite is compared.
                assert client.get("/books/1").json() == {"id": 1, "title": "Dune"}
                assert client.get("/books/2").json() == {"id": 2, "title": "Emma"}
        sent = {"/books/{book_id}": 2 * ROUNDS}
        wait_for(lambda: all_compared(server, sent), 120)
    log = server.log()
    assert "cannot write" not in log, log
    # The last batch is written when the gateway stops; `gateway parity` reads it afterwards.
    books = report(ledger, "--samples")["/books/{book_id}"]
    assert (books["compared"], books["matched"]) == (2 * ROUNDS, ROUNDS), books
    (title,) = books["differences"]
    assert (title["fields"], title["count"]) == (["body:$.title"], ROUNDS)
    assert title["samples"][0]["request"]["path"] == "/books/2"
