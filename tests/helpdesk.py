"""The help-desk apps as real servers: legacy under gunicorn, the rewrite under uvicorn.

Each server gets the SQLite file it is given, so tests decide whether servers share a database
or each start from their own copy of the same seed.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from legacy_app.db import create_db_engine, init_db
from legacy_app.models import AuditEvent
from legacy_app.settings import SESSION_COOKIE_NAME
from tests.servers import ServerProcess, bin_path, free_port, run_server

SECRET_KEY = "tests-secret-key"
PASSWORD = "password"
TOKENS: dict[str, str] = {
    "admin": "admin-token",
    "agent": "agent-token",
    "customer": "customer-token",
    "agent2": "agent2-token",
    "customer2": "customer2-token",
}
EMAILS: dict[str, str] = {
    "admin": "admin@example.com",
    "agent": "agent@example.com",
    "customer": "customer@example.com",
}


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def seed_database(path: Path) -> Path:
    init_db(sqlite_url(path)).dispose()
    return path


def copy_database(source: Path, target: Path) -> Path:
    shutil.copyfile(source, target)
    return target


def app_env(db_path: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return {
        "HELPDESK_DATABASE_URL": sqlite_url(db_path),
        "HELPDESK_SECRET_KEY": SECRET_KEY,
        **(extra or {}),
    }


@contextmanager
def legacy_server(
    db_path: Path, extra_env: Mapping[str, str] | None = None
) -> Iterator[ServerProcess]:
    port = free_port()
    argv = [bin_path("gunicorn"), "-w", "1", "-b", f"127.0.0.1:{port}", "legacy_app.wsgi:app"]
    with run_server(argv, port=port, env=app_env(db_path, extra_env), health_path="/health") as s:
        yield s


@contextmanager
def new_server(
    db_path: Path, extra_env: Mapping[str, str] | None = None
) -> Iterator[ServerProcess]:
    port = free_port()
    argv = [bin_path("uvicorn"), "new_app.main:app", "--host", "127.0.0.1", "--port", str(port)]
    with run_server(argv, port=port, env=app_env(db_path, extra_env), health_path="/health") as s:
        yield s


def token(who: str) -> dict[str, str]:
    return {"X-Token": TOKENS[who]}


def cookie_header(value: str) -> dict[str, str]:
    # An explicit header: httpx's per-request cookies are deprecated, and its cookie jar
    # would also replay cookies between tests.
    return {"Cookie": f"{SESSION_COOKIE_NAME}={value}"}


def login_cookie(server: ServerProcess, who: str) -> str:
    with server.client() as client:
        response = client.post("/login", json={"email": EMAILS[who], "password": PASSWORD})
    response.raise_for_status()
    return response.cookies[SESSION_COOKIE_NAME]


def assert_error(
    response: httpx.Response, status: int, code: str, message: str | None = None
) -> None:
    """The legacy error shape, with the exact message when one is given."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["status"] == status
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    if message is not None:
        assert error["message"] == message


def audit_events(db_path: Path) -> list[AuditEvent]:
    engine = create_db_engine(sqlite_url(db_path))
    try:
        with Session(engine) as session:
            return list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
    finally:
        engine.dispose()
