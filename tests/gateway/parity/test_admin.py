"""`/_gateway/api/parity`'s answers, from a ledger file (the server test covers the token)."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

from gateway.parity.admin import parity_answer
from tests.gateway.parity.ledgers import seen, sqlite_url, write


def answer(url: str, query: bytes = b"") -> tuple[int, dict[str, Any]]:
    return asyncio.run(parity_answer(url, {"type": "http", "query_string": query}))


def test_the_routes_of_the_ledger(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    write(url, [seen(time.time() - 7200, route="/old"), seen(time.time(), route="/new")])
    status, body = answer(url)
    assert status == 200 and [r["route"] for r in body["routes"]] == ["/new", "/old"]
    status, body = answer(url, b"since=1h&method=GET")
    assert status == 200 and [r["route"] for r in body["routes"]] == ["/new"]
    assert body["ledger"] == url
    status, body = answer(url, b"route=/old")
    assert [(r["route"], r["compared"]) for r in body["routes"]] == [("/old", 1)]


def test_nothing_recorded_yet_is_an_empty_answer(tmp_path: Path) -> None:
    status, body = answer(sqlite_url(tmp_path))
    assert status == 200 and body["routes"] == [] and "no ledger at" in body["detail"]


def test_a_bad_since_is_400(tmp_path: Path) -> None:
    status, body = answer(sqlite_url(tmp_path), b"since=soon")
    assert status == 400 and body["error"] == "bad_since"


def test_an_unreadable_ledger_is_503_without_its_password() -> None:
    status, body = answer("postgresql://u:hunter2@127.0.0.1:1/db")  # nothing listens on port 1
    assert status == 503 and body["error"] == "ledger_unavailable"
    assert "hunter2" not in repr(body)
    # psycopg 3 on SQLAlchemy 2, psycopg2 on 1.4 (test_drivers.py).
    assert re.fullmatch(r"postgresql\+psycopg2?://u:\*\*\*@127\.0\.0\.1:1/db", body["ledger"])
