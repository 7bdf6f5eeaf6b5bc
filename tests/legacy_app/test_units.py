"""In-process checks of what HTTP cannot easily reach: settings, seeding, the 500 shape."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from legacy_app import create_app
from legacy_app.db import init_db
from legacy_app.models import Ticket, User
from legacy_app.settings import DEV_SECRET_KEY, Settings
from tests.helpdesk import sqlite_url


def test_settings_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.database_url == "sqlite:///helpdesk.db"
    assert settings.secret_key == DEV_SECRET_KEY


def test_settings_from_environment() -> None:
    env = {
        "HELPDESK_DATABASE_URL": "sqlite:////tmp/x.db",
        "HELPDESK_SECRET_KEY": "s",
        "HELPDESK_MAX_UPLOAD_BYTES": "10",
    }
    assert Settings.from_env(env) == Settings("sqlite:////tmp/x.db", "s", 10)


@pytest.mark.parametrize("raw", ["ten", "0", "-1"])
def test_invalid_upload_limit_names_the_variable(raw: str) -> None:
    with pytest.raises(ValueError, match=f"HELPDESK_MAX_UPLOAD_BYTES .*{raw!r}"):
        Settings.from_env({"HELPDESK_MAX_UPLOAD_BYTES": raw})


def test_seeds_on_first_start_only(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "seed.db")
    engine = init_db(url)
    with Session(engine) as session:
        session.delete(session.get_one(Ticket, 25))
        session.commit()
    engine.dispose()
    engine = init_db(url)
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(User)) == 5
        assert session.scalar(select(func.count()).select_from(Ticket)) == 24
    engine.dispose()


def test_unhandled_errors_use_the_error_shape(tmp_path: Path) -> None:
    app = create_app({"DATABASE_URL": sqlite_url(tmp_path / "app.db")})

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("boom")

    response = app.test_client().get("/boom")
    assert response.status_code == 500
    assert response.json == {
        "error": {
            "status": 500,
            "code": "internal_error",
            "message": (
                "The server encountered an internal error and was unable to complete your "
                "request. Either the server is overloaded or there is an error in the "
                "application."
            ),
        }
    }
