"""Which PostgreSQL driver a ledger URL gets, on SQLAlchemy 1.4 and 2.x, and the error when none
is installed. The same tests run on the newest SQLAlchemy (`make test`) and on 1.4 with psycopg2
(scripts/check-oldest-supported.sh)."""

from __future__ import annotations

import sys
import time

import pytest
import sqlalchemy
from pydantic import ValidationError

from gateway.parity import readiness
from gateway.parity.store import LedgerError, ledger_url
from gateway.settings import GatewaySettings
from tests.gateway.parity.ledgers import seen, write

SQLALCHEMY_2 = int(sqlalchemy.__version__.split(".")[0]) >= 2
URL = "postgresql://u:secret-pw@h/db"


def without(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    """Make `import module` fail as it does where the module is not installed."""
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)


def test_a_plain_postgres_url_gets_the_driver_this_sqlalchemy_speaks() -> None:
    # SQLAlchemy 2 speaks psycopg 3 (the postgres extra); 1.4 has only psycopg2.
    expected = "postgresql+psycopg" if SQLALCHEMY_2 else "postgresql+psycopg2"
    assert ledger_url(URL).drivername == expected


def test_without_psycopg_3_the_ledger_goes_through_psycopg2(
    monkeypatch: pytest.MonkeyPatch, postgres_url: str
) -> None:
    # The driver most apps on PostgreSQL have, whichever SQLAlchemy: the ledger writes and
    # reads through it (on SQLAlchemy 1.4, the only one it can use).
    without(monkeypatch, "psycopg")
    url = ledger_url(postgres_url)
    assert url.drivername == "postgresql+psycopg2"
    write(postgres_url, [seen(time.time()), seen(time.time(), "mismatch")])
    (route,) = readiness.read(postgres_url)
    assert (route.compared, route.matched) == (2, 1)


def test_a_driver_named_in_the_url_is_kept() -> None:
    named = "postgresql+psycopg" if SQLALCHEMY_2 else "postgresql+psycopg2"
    assert ledger_url(named + "://u@h/db").drivername == named


@pytest.mark.skipif(SQLALCHEMY_2, reason="SQLAlchemy 2 has a psycopg 3 dialect")
def test_sqlalchemy_1_4_refuses_psycopg_3_by_name() -> None:
    with pytest.raises(LedgerError, match="needs its driver 'psycopg'") as raised:
        ledger_url("postgresql+psycopg://u:secret-pw@h/db")
    assert "SQLAlchemy 1.4 has no psycopg 3 dialect" in str(raised.value)
    assert "secret-pw" not in str(raised.value)


def test_without_a_driver_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    without(monkeypatch, "psycopg", "psycopg2")
    with pytest.raises(LedgerError) as raised:
        ledger_url(URL)
    message = str(raised.value)
    assert "needs a PostgreSQL driver" in message
    assert "pip install 'flask-fastapi-gateway[postgres]'" in message
    assert f"SQLAlchemy {sqlalchemy.__version__}" in message
    assert "secret-pw" not in message and "u:***@h/db" in message


def test_without_a_driver_the_settings_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # Before serving: the gateway does not start with a ledger it could never write.
    without(monkeypatch, "psycopg", "psycopg2")
    with pytest.raises(ValidationError, match=r"flask-fastapi-gateway\[postgres\]") as raised:
        GatewaySettings(ledger_url=URL)
    assert "secret-pw" not in str(raised.value)


def test_a_named_driver_that_is_missing_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    without(monkeypatch, "psycopg2")
    with pytest.raises(LedgerError, match="needs its driver 'psycopg2'"):
        ledger_url("postgresql+psycopg2://u@h/db")
