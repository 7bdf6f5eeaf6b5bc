"""A SQLAlchemy session per request, from the factory the lifespan put on `app.state`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker


def get_db(request: Request) -> Iterator[Session]:
    factory: sessionmaker[Session] | None = getattr(request.app.state, "session_factory", None)
    if factory is None:
        # Mounted under another app whose lifespan does not forward to ours, most likely.
        raise RuntimeError("new_app's lifespan has not run: app.state.session_factory is unset")
    with factory() as session:
        yield session


DbSession = Annotated[Session, Depends(get_db)]
