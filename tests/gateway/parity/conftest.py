"""A real PostgreSQL server for the ledger's tests: Debian's, on loopback, in a temp folder.

One server for the whole session (initdb and start take a second or two); each test gets a
database of its own. Outside CI a missing PostgreSQL skips these tests with a message saying
how to install it; in CI (`CI=true`) it fails them, so a broken CI image cannot pass by skipping.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.gateway.parity.ledgers import sqlite_url
from tests.servers import free_port

_databases = itertools.count(1)


def postgres_bindir() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class Postgres:
    def __init__(self, bindir: Path, folder: Path) -> None:
        self.bindir = bindir
        self.data = folder / "data"
        self.log = folder / "server.log"
        self.port = free_port()
        # PostgreSQL refuses to run as root: the tests then run it as Debian's `postgres` user.
        self.runas = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.runas:
            user = pwd.getpwnam("postgres")
            os.chown(folder, user.pw_uid, user.pw_gid)

    def _run(self, *argv: str) -> None:
        subprocess.run([*self.runas, *argv], check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        initdb = str(self.bindir / "initdb")
        self._run(initdb, "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data} -h 127.0.0.1 -c fsync=off"
        pg_ctl = str(self.bindir / "pg_ctl")
        self._run(pg_ctl, "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self) -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def url(self, database: str = "postgres", password: str = "") -> str:
        secret = f":{password}" if password else ""
        return f"postgresql://postgres{secret}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        name = f"ledger_{next(_databases)}"
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}")
        return name


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Postgres]:
    bindir = postgres_bindir()
    if bindir is None:
        message = (
            "PostgreSQL's initdb was not found: install Debian's postgresql package "
            "(`apt-get install postgresql`, or `make system-deps`)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message + "; CI never skips this test", pytrace=False)
        pytest.skip(message)
    folder = Path(tempfile.mkdtemp(prefix="ledger-postgres-"))
    server = Postgres(bindir, folder)
    try:
        server.init()
        server.start()
        yield server
        server.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: Postgres) -> str:
    """A fresh database on the session's server."""
    return postgres_server.url(postgres_server.new_database())


@pytest.fixture(params=["sqlite", "postgresql"])
def any_ledger(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on a SQLite file and on PostgreSQL."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path)
    url: str = request.getfixturevalue("postgres_url")
    return url
